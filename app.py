"""DANN Playground: entry point. Page config, navigation over pages/, and the shared sidebar."""

import streamlit as st

st.set_page_config(page_title="DANN Playground", page_icon=":material/model_training:", layout="wide")
st.title("DANN Playground")
st.write("Train domain-adversarial neural networks live and watch the gradient reversal layer work.")
