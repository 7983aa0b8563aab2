"""Not a package: ``nodes/`` is the source folder of the built-in node types.

They are imported as :mod:`flowengine_nodes` (``nodes/flowengine_nodes/``). A top-level
package named ``nodes`` would collide with any other distribution that ships one, so this
file makes ``import nodes`` fail loudly, even when the current folder is the checkout.
"""

raise ImportError("flowengine's built-in node types are imported as 'flowengine_nodes', not 'nodes'")
