"""Plotly figures from plain data (numpy arrays, lists, dataclasses): no torch, no streamlit."""
