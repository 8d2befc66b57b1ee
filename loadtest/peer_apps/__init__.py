"""The peers' sides of ``python -m loadtest workers``: each module runs in the peer's own
venv (``.venv-peers/<peer>``), fills that library's queue (``fill URL COUNT SIZE``) and
defines a no-op task its worker command runs. Nothing here imports Redcurrent."""
