
{{create_kernel}}connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins {{kernel}}/{{stream_in}}]
connect_bd_intf_net [get_bd_intf_pins {{kernel}}/{{stream_out}}] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]
apply_bd_automation -rule xilinx.com:bd_rule:clkrst -config [list Clk $fg_clk Freq $fg_clock_mhz Ref_Clk0 {} \
    Ref_Clk1 {} Ref_Clk2 {}] [get_bd_pins {{kernel}}/{{clock_pin}}]

# Address map: the DMA's registers at the address the board registry (and the virtual board) use.
set fg_dma_seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces {{ps_cell}}/Data] -filter {NAME =~ "*axi_dma_0*"}]
if {[llength $fg_dma_seg] != 1} {
    error "fpgagen: expected one address segment of axi_dma_0 in {{ps_cell}}/Data, found '$fg_dma_seg'"
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