"""What a run looks like: every Plotly figure, feature maps in 2-D, comparisons, and the files a run downloads as."""
