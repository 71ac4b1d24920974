"""fpgagen.overlays: the boards fpgagen deploys to (the registry in ``boards``), the block design both kernels'
board projects share (``block_design``, from the templates ``board_designs/<ps>.tcl``) and the rest of a board
project they share (``project``: fit, manifest, build checks, install). Torch-free: it imports only the core.

Built overlays (``<name>.bit``, ``.hwh`` and their manifest) are the user's and land in the user's folder
(``./overlays/<board>/`` by default), never inside the installed package.
"""
