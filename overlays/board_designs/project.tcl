{{preamble}}
set fg_part {{part}}
set fg_board_part {{board_part}}
set fg_clock_mhz {{fabric_clock_mhz}}
set fg_dma_base {{dma_base}}
set fg_dma_range {{dma_range}}

create_project project_1 {{project_dir}} -part $fg_part -force

# The newest installed version of the board part (board files differ between Vivado releases).
set fg_board_prefix [join [lrange [split $fg_board_part :] 0 2] :]
set fg_installed [lsort -dictionary [get_board_parts -quiet "${fg_board_prefix}:*"]]
if {[llength $fg_installed] == 0} {
    error "fpgagen: board files for $fg_board_prefix are not installed in this Vivado (expected $fg_board_part)"
}
set_property board_part [lindex $fg_installed end] [current_project]
{{sources}}
create_bd_design "design_1"
{{catalog}}