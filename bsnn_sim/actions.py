"""The action vocabulary: what the hardware does that costs energy (owned by neither
the timing pass, which counts actions, nor the energy model, which prices them).

Dynamic actions are counted per layer-step by :mod:`bsnn_sim.timing.costs`:

=================  ==================================================================
sense_array        one row sensing: array current while the bit lines are driven
drive_bitlines     one input chunk put on one subarray's bit lines (from the V_rd rail)
predrive           the same chunk's column pre-drivers and spike latches (at VDD)
convert            one conversion of a source-line voltage
neuron_add         one partial sum (or stored current) added into a neuron
neuron_update      one neuron's per-step bias subtraction and threshold compare
neuron_fire        one output spike (reset by subtraction)
state_read_bit     one bit of neuron state (membrane, stored current) read
state_write_bit    one bit of neuron state written
buffer_read_bit    one spike bit read from a spike buffer
buffer_write_bit   one spike bit written into a spike buffer
digital_mac        one 8x8-bit multiply-accumulate of the digital unit
weight_read_bit    one int8 weight bit fetched from the digital unit's weight memory
wire_bit_pitch     one bit carried one subarray pitch across the chip (data movement)
psum_pitch         one partial sum carried one subarray pitch to its neuron
=================  ==================================================================

Leakage actions are *block-cycles*: one block (or one bit of storage) powered for one
clock cycle of the run; the timing pass counts them as (blocks) x (total cycles).

=======================  ============================================================
leak_subarray_cycle      one subarray's periphery (drivers, converter, control)
leak_state_bit_cycle     one bit of neuron-state storage
leak_buffer_bit_cycle    one bit of spike-buffer SRAM
leak_digital_cycle       the digital unit
leak_weight_bit_cycle    one bit of the digital unit's weight memory
=======================  ============================================================
"""

DYNAMIC_ACTIONS = ("sense_array", "drive_bitlines", "predrive", "convert", "neuron_add", "neuron_update",
                   "neuron_fire", "state_read_bit", "state_write_bit", "buffer_read_bit", "buffer_write_bit",
                   "digital_mac", "weight_read_bit", "wire_bit_pitch", "psum_pitch")
LEAKAGE_ACTIONS = ("leak_subarray_cycle", "leak_state_bit_cycle", "leak_buffer_bit_cycle", "leak_digital_cycle",
                   "leak_weight_bit_cycle")
ACTIONS = DYNAMIC_ACTIONS + LEAKAGE_ACTIONS
