"""fpgagen.overlays: the boards fpgagen deploys to (the registry in ``boards``) and the block-design templates
(``board_designs/<ps>.tcl``) the accelerator projects are filled from. Torch-free: it imports only the core.

Built overlays (``<name>.bit``, ``.hwh`` and their manifest) are the user's and land in the user's folder
(``./overlays/<board>/`` by default), never inside the installed package.
"""
