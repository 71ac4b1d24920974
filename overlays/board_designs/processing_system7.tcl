# fpgagen block design for a Zynq-7000 board: {{title}}.
# Written by {{writer}} from overlays/board_designs/processing_system7.tcl and the board
# registry (fpgagen.overlays.boards); it follows the structure and names of hls4ml's pynq-z2 design.tcl:
#   processing_system7_0  board preset; M_AXI_GP0 (DMA registers), S_AXI_HP0 (DMA to DDR), FCLK_CLK0
#   hier_0/axi_dma_0   AXI DMA 7.1, direct register (simple) mode, 26-bit length, 32-bit streams
#   {{kernel_doc}}
# {{run_doc}}
{{project}}
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
