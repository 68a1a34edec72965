"""Node names that would clash with the compiled module: the public attributes of a ``torch.fx.GraphModule``.

A node's name becomes a submodule attribute of the GraphModule (and a Python name in its generated code), so
``load_state_dict``, ``compile`` or ``to`` must be refused. The list is written out rather than read from torch at
run time, so that checking a name (the editor, ``netbuilder validate``) never imports PyTorch, which takes seconds.
``tests/test_startup_imports.py`` compares it with the installed torch, so a torch upgrade that adds a method
fails the tests until the name is added here.
"""

GRAPH_MODULE_ATTRIBUTES = frozenset({
    'T_destination', 'add_module', 'add_submodule', 'apply', 'bfloat16', 'buffers', 'call_super_init', 'children',
    'code', 'compile', 'cpu', 'cuda', 'delete_all_unused_submodules', 'delete_submodule', 'double', 'dump_patches',
    'eval', 'extra_repr', 'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter', 'get_submodule',
    'graph', 'half', 'ipu', 'load_state_dict', 'meta', 'modules', 'mtia', 'named_buffers', 'named_children',
    'named_modules', 'named_parameters', 'parameters', 'print_readable', 'recompile', 'register_backward_hook',
    'register_buffer', 'register_forward_hook', 'register_forward_pre_hook', 'register_full_backward_hook',
    'register_full_backward_pre_hook', 'register_load_state_dict_post_hook', 'register_load_state_dict_pre_hook',
    'register_module', 'register_parameter', 'register_state_dict_post_hook', 'register_state_dict_pre_hook',
    'requires_grad_', 'set_extra_state', 'set_submodule', 'shape_env', 'share_memory', 'state_dict', 'to',
    'to_empty', 'to_folder', 'train', 'training', 'type', 'xpu', 'zero_grad'
})
