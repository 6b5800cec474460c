"""`redun console`: a Textual UI over the browse view objects (redun/view/browse.py).

Textual is an optional dependency (`pip install -e '.[console]'`); nothing in
redun imports this package outside the `redun console` command.
"""
