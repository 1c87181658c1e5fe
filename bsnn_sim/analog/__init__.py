"""The analog path: sensing physics, converters, device variation and Monte Carlo chips.

``docs/variation.md`` states the model. Modules: :mod:`.converter` (ADC and time-based
converters, their energy and noise), :mod:`.devices` (nominal cells at temperature),
:mod:`.chip` (one sampled chip: per-subarray cells and converters), :mod:`.margin`
(the analytic sense margin), :mod:`.simulate` (a functional pass through a chip),
:mod:`.montecarlo` (many chips, statistics, calibration) and :mod:`.variation` (accuracy
against one parameter). The sensing kernel is :mod:`bsnn_sim.kernels.analog`.
"""
