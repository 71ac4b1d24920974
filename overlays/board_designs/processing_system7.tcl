# fpgagen block design for a Zynq-7000 board: {{title}}.
# Written by {{writer}} from overlays/board_designs/processing_system7.tcl and the board
# registry (fpgagen.overlays.boards); it follows the structure and names of hls4ml's pynq-z2 design.tcl:
#   processing_system7_0  board preset; M_AXI_GP0 (DMA registers), S_AXI_HP0 (DMA to DDR), FCLK_CLK0
#   hier_0/axi_dma_0   AXI DMA 7.1, direct register (simple) mode, 26-bit length, 32-bit streams
#   {{kernel_doc}}
# {{run_doc}}
{{preamble}}
set fg_part {{part}}
set fg_board_part {{board_part}}
set fg_clock_mhz {{fabric_clock_mhz}}
set fg_dma_base {{dma_base}}
set fg_dma_range {{dma_range}}

create_project project_1 {{project_dir}} -part $fg_part -force

# The newest installed version of the board part (board files differ between releases; the PYNQ-Z2's come from TUL).
set fg_board_prefix [join [lrange [split $fg_board_part :] 0 2] :]
set fg_installed [lsort -dictionary [get_board_parts -quiet "${fg_board_prefix}:*"]]
if {[llength $fg_installed] == 0} {
    error "fpgagen: board files for $fg_board_prefix are not installed in this Vivado (expected $fg_board_part)"
}
set_property board_part [lindex $fg_installed end] [current_project]
{{sources}}
create_bd_design "design_1"
{{catalog}}
# Processing system: the board preset (DDR, MIO, clocks), M_AXI_GP0 for registers, S_AXI_HP0 for data and
# FCLK_CLK0 at the fabric clock.
create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable" } [get_bd_cells processing_system7_0]
set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_USE_S_AXI_HP0 {1} \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fg_clock_mhz] [get_bd_cells processing_system7_0]

# AXI DMA in direct register mode, as in hls4ml's designs (pynq.lib.dma.DMA drives it).
create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 axi_dma_0
set_property -dict [list CONFIG.c_s_axis_s2mm_tdata_width.VALUE_SRC USER] [get_bd_cells axi_dma_0]
set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26} CONFIG.c_sg_include_stscntrl_strm {0} \
    CONFIG.c_m_axi_mm2s_data_width {{in_bits}} CONFIG.c_m_axis_mm2s_tdata_width {{in_bits}} \
    CONFIG.c_mm2s_burst_size {256} CONFIG.c_s_axis_s2mm_tdata_width {{out_bits}} \
    CONFIG.c_s2mm_burst_size {256}] [get_bd_cells axi_dma_0]

# Interconnect, clocks and resets: every AXI clock is FCLK_CLK0, resets from a proc_sys_reset on FCLK_RESET0_N.
set fg_clk "/processing_system7_0/FCLK_CLK0 ($fg_clock_mhz MHz)"
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
    Master {/processing_system7_0/M_AXI_GP0} Slave {/axi_dma_0/S_AXI_LITE} ddr_seg {Auto} \
    intc_ip {New AXI Interconnect} master_apm {0}] [get_bd_intf_pins axi_dma_0/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
    Master {/axi_dma_0/M_AXI_MM2S} Slave {/processing_system7_0/S_AXI_HP0} ddr_seg {Auto} \
    intc_ip {New AXI Interconnect} master_apm {0}] [get_bd_intf_pins processing_system7_0/S_AXI_HP0]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {Auto} Clk_slave $fg_clk Clk_xbar $fg_clk \
    Master {/axi_dma_0/M_AXI_S2MM} Slave {/processing_system7_0/S_AXI_HP0} ddr_seg {Auto} \
    intc_ip {/axi_mem_intercon} master_apm {0}] [get_bd_intf_pins axi_dma_0/M_AXI_S2MM]

{{create_kernel}}connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins {{kernel}}/{{stream_in}}]
connect_bd_intf_net [get_bd_intf_pins {{kernel}}/{{stream_out}}] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]
apply_bd_automation -rule xilinx.com:bd_rule:clkrst -config [list Clk $fg_clk Freq $fg_clock_mhz Ref_Clk0 {} \
    Ref_Clk1 {} Ref_Clk2 {}] [get_bd_pins {{kernel}}/{{clock_pin}}]

# Address map: the DMA's registers at the address the board registry (and the virtual board) use.
set fg_dma_seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces processing_system7_0/Data] -filter {NAME =~ "*axi_dma_0*"}]
if {[llength $fg_dma_seg] != 1} {
    error "fpgagen: expected one address segment of axi_dma_0 in processing_system7_0/Data, found '$fg_dma_seg'"
}
set_property range $fg_dma_range $fg_dma_seg
set_property offset $fg_dma_base $fg_dma_seg

group_bd_cells hier_0 [get_bd_cells axi_dma_0] [get_bd_cells {{kernel}}]
validate_bd_design
save_bd_design

{{top_wrapper}}
reset_run impl_1
reset_run synth_1
launch_runs impl_1 -to_step write_bitstream -jobs 6
wait_on_run -timeout 360 impl_1

open_run impl_1
report_utilization -file util.rpt -hierarchical -hierarchical_percentages
{{finish}}