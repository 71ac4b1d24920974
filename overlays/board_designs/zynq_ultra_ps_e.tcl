# fpgagen block design for a Zynq UltraScale+ board: {{title}}.
# Written by {{writer}} from overlays/board_designs/zynq_ultra_ps_e.tcl and the board
# registry (fpgagen.overlays.boards); it follows the structure and names of hls4ml's zcu102 design.tcl:
#   zynq_ultra_ps_e_0  board preset; M_AXI_HPM0_FPD (DMA registers), S_AXI_HP0_FPD (DMA to DDR), pl_clk0
#   hier_0/axi_dma_0   AXI DMA 7.1, direct register (simple) mode, 26-bit length, 32-bit streams
#   {{kernel_doc}}
# {{run_doc}}
{{project}}
# Processing system: the board preset (DDR, MIO, clocks), then one master for registers, one slave for data and
# pl_clk0 at the fabric clock. HPM1_FPD and HPM0_LPD stay off so the DMA has one address.
create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e:3.* zynq_ultra_ps_e_0
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} [get_bd_cells zynq_ultra_ps_e_0]
set_property -dict [list \
    CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__MAXIGP0__DATA_WIDTH {32} \
    CONFIG.PSU__USE__M_AXI_GP1 {0} CONFIG.PSU__USE__M_AXI_GP2 {0} \
    CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__SAXIGP2__DATA_WIDTH {32} \
    CONFIG.PSU__FPGA_PL0_ENABLE {1} CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fg_clock_mhz \
] [get_bd_cells zynq_ultra_ps_e_0]

# AXI DMA in direct register mode, as in hls4ml's designs (pynq.lib.dma.DMA drives it).
create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.* axi_dma_0
set_property -dict [list CONFIG.c_m_axi_s2mm_data_width.VALUE_SRC USER CONFIG.c_s_axis_s2mm_tdata_width.VALUE_SRC USER] [get_bd_cells axi_dma_0]
set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26} CONFIG.c_sg_include_stscntrl_strm {0} \
    CONFIG.c_m_axi_mm2s_data_width {{in_bits}} CONFIG.c_m_axis_mm2s_tdata_width {{in_bits}} \
    CONFIG.c_mm2s_burst_size {256} CONFIG.c_m_axi_s2mm_data_width {{out_bits}} \
    CONFIG.c_s_axis_s2mm_tdata_width {{out_bits}} CONFIG.c_s2mm_burst_size {256}] [get_bd_cells axi_dma_0]

# Interconnect, clocks and resets: every AXI clock is pl_clk0, resets from a proc_sys_reset on pl_resetn0. The
# automation names a clock by its achieved rate, truncated to MHz (hls4ml's zcu102 design: "pl_clk0 (99 MHz)").
set fg_act_mhz [get_property CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ [get_bd_cells zynq_ultra_ps_e_0]]
set fg_clk "/zynq_ultra_ps_e_0/pl_clk0 ([expr {int($fg_act_mhz)}] MHz)"
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
    Master {/zynq_ultra_ps_e_0/M_AXI_HPM0_FPD} Slave {/axi_dma_0/S_AXI_LITE} ddr_seg {Auto} \
    intc_ip {New AXI Interconnect} master_apm {0}] [get_bd_intf_pins axi_dma_0/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
    Master {/axi_dma_0/M_AXI_MM2S} Slave {/zynq_ultra_ps_e_0/S_AXI_HP0_FPD} ddr_seg {Auto} \
    intc_ip {New AXI SmartConnect} master_apm {0}] [get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP0_FPD]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {Auto} Clk_slave $fg_clk Clk_xbar $fg_clk \
    Master {/axi_dma_0/M_AXI_S2MM} Slave {/zynq_ultra_ps_e_0/S_AXI_HP0_FPD} ddr_seg {Auto} \
    intc_ip {/axi_smc} master_apm {0}] [get_bd_intf_pins axi_dma_0/M_AXI_S2MM]
