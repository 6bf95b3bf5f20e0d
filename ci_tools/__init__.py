"""CI's helpers: the stacks a change affects, the stack's outputs as masks and step outputs, the
preview guard, and the pull-request comment. Standard library only: CI runs them with the runner's
python before (or without) the program's virtualenv."""
