"""Figures of recurrent layers at work, drawn from Traces (matplotlib; nothing calls ``plt.show()``).

Every function returns what it drew: ``gate_heatmap`` an Axes, the others a Figure made outside
pyplot (nothing to close, safe under Agg; in Jupyter a Figure displays itself). The shared look,
colour maps and fixed scales live in :mod:`steprnn.plot.style`.

============================  ==============================================================
``gate_heatmap``              one gate (or c, h) over time × units, on its fixed scale
``trace_figure``              every gate, c and h of one layer on one time axis
``state_lines``               c_t and h_t of chosen units over time
``saturation``                per unit, how often each gate sits near 0 or 1 (Karpathy et al.)
``gradient_flow``             ‖∂L/∂h_t‖ over t, log scale, one line per trace
``cell_diagram``              the cell's wiring with one step's values
``shapes``                    input, output, h_n, c_n as blocks; which slice is which
``weights``                   weight matrices with their gate bands labelled
``token_strip``               the input text coloured by one unit's value
``connectivity``              ‖∂y_t/∂x_s‖ over the input steps (Madsen 2019)
``animate``                   a GIF of the trace figure, one frame per step
``explore``                   sliders over a trace in Jupyter (the ``notebooks`` extra)
============================  ==============================================================
"""
from .animate import animate
from .connectivity import connectivity, connectivity_values
from .diagram import cell_diagram
from .explore import explore
from .gradients import gradient_flow
from .heatmap import gate_heatmap
from .lines import state_lines
from .saturation import saturation
from .shapes import shapes
from .token_strip import token_strip
from .trace_figure import trace_figure
from .weights import weights

__all__ = ["gate_heatmap", "trace_figure", "state_lines", "saturation", "gradient_flow", "cell_diagram",
           "shapes", "weights", "token_strip", "connectivity", "connectivity_values", "animate", "explore"]
