"""`jobspec ui`: a local web page of every job of the project, local runs and cloud jobs, with
their plans, logs, states and metrics (docs/ui.md).

Standard library only on the server side (http.server), and one vendored chart library in
static/ (uPlot): nothing is fetched from the network by the page. Only `jobspec ui` imports
this package.
"""
