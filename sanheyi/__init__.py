from __future__ import annotations

from sanheyi.malloc_arenas import limit_malloc_arenas

# First thing in any process that runs the hub, before numpy, Arrow or the data quality worker start
# threads of their own (see sanheyi/malloc_arenas.py).
limit_malloc_arenas()
