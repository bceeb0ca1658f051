"""Plotly figures, pure functions of results, with the same colours and markers in every figure:

- style.py: colours, markers, fonts, the layout every figure shares;
- curves.py: a run's training curves and the paper's schedules;
- planes.py: 2-D data, the input plane, a feature map;
- sweeps.py: lambda sweeps and a room's runs;
- maps.py: feature maps over training, played back.
"""

from dann_demo.views.plots.curves import (
    PAPER_SCHEDULE,
    accuracy_figure,
    domain_accuracy_figure,
    domain_loss_figure,
    label_loss_figure,
    paper_schedules_figure,
    schedule_figure,
)
from dann_demo.views.plots.maps import MapRun, feature_maps_figure, mixing_figure
from dann_demo.views.plots.planes import (
    MULTICLASS_TITLE,
    PLANE_PANELS,
    data_figure,
    feature_map_figure,
    input_plane_figure,
)
from dann_demo.views.plots.style import (
    CHART_CONFIG,
    CLASS_COLOURS,
    DOMAIN_STYLE,
    FONT,
    LN2,
    class_colour,
    class_name,
    layout,
    mark_lambda_changes,
)
from dann_demo.views.plots.sweeps import (
    PAPER_LABEL,
    ROOM_MODE_STYLE,
    ROOM_REFERENCES,
    SWEEP_COLOUR,
    lambda_axis_positions,
    room_figure,
    sweep_accuracy_figure,
    sweep_domain_figure,
)

__all__ = [
    "CHART_CONFIG",
    "CLASS_COLOURS",
    "DOMAIN_STYLE",
    "FONT",
    "LN2",
    "MULTICLASS_TITLE",
    "MapRun",
    "PAPER_LABEL",
    "PAPER_SCHEDULE",
    "PLANE_PANELS",
    "ROOM_MODE_STYLE",
    "ROOM_REFERENCES",
    "SWEEP_COLOUR",
    "accuracy_figure",
    "class_colour",
    "class_name",
    "data_figure",
    "domain_accuracy_figure",
    "domain_loss_figure",
    "feature_map_figure",
    "feature_maps_figure",
    "input_plane_figure",
    "label_loss_figure",
    "lambda_axis_positions",
    "layout",
    "mark_lambda_changes",
    "mixing_figure",
    "paper_schedules_figure",
    "room_figure",
    "schedule_figure",
    "sweep_accuracy_figure",
    "sweep_domain_figure",
]
