"""The reverse-weight equivalence as tools.

The backward half of a bidirectional ``nn.RNN``/``nn.GRU``/``nn.LSTM`` layer is an ordinary
unidirectional layer with the ``*_reverse`` parameters, run on the reversed sequence:

- ``reverse_direction(bi, layer)`` builds that unidirectional module (sharing or copying),
- ``reverse_sequence(x, lengths)`` reverses each sequence over its valid prefix only,
- ``merge_directions(fwd, bwd)`` goes the other way: two unidirectional layers -> one
  bidirectional layer,
- ``first_layers(bi, n)`` keeps the first ``n`` layers of a stack (its output is the input of
  layer ``n``).

Shapes: ``T`` time steps, ``B`` batch, ``I`` input size, ``H`` hidden size, ``P`` the LSTM's
``proj_size`` (the size of ``h`` when it is > 0, else ``P = H``).
"""

from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn

from birnn_utils.cells import RECURRENT_TYPES, state_size
from birnn_utils.validation import check_bool, check_int, check_tensor, describe

__all__ = ["reverse_direction", "reverse_sequence", "merge_directions", "first_layers"]

_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _base_class(module, what: str = "module") -> type:
    """``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``: the class ``module`` is (or derives from)."""
    for cls in RECURRENT_TYPES:
        if isinstance(module, cls):
            return cls
    raise TypeError(f"{what} must be an nn.RNN, nn.GRU or nn.LSTM, got {describe(module)}")


def _new_module(like, *, input_size: int, num_layers: int, bidirectional: bool):
    """An empty module of ``like``'s class and hyperparameters, on the meta device.

    Built on ``meta`` so that no random initialisation runs (the global RNG is untouched)
    and no memory is allocated; the caller then sets every parameter.
    """
    kwargs = dict(
        input_size=input_size,
        hidden_size=like.hidden_size,
        num_layers=num_layers,
        bias=like.bias,
        batch_first=like.batch_first,
        dropout=like.dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        device="meta",
        dtype=like.weight_ih_l0.dtype,
    )
    if isinstance(like, nn.LSTM):
        kwargs["proj_size"] = like.proj_size
    if isinstance(like, nn.RNN):
        kwargs["nonlinearity"] = like.nonlinearity
    module = _base_class(like)(**kwargs)
    module.train(like.training)
    return module


def _take(param: nn.Parameter, share: bool) -> nn.Parameter:
    """``param`` itself (shared) or an independent copy with the same ``requires_grad``."""
    if share:
        return param
    return nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad)


def _layer_names(module, layer: int, suffix: str) -> list[str]:
    """Parameter names of one direction of one layer, e.g. ``weight_ih_l1_reverse``."""
    return [
        name
        for name, _ in module.named_parameters()
        if name.endswith(f"_l{layer}{suffix}") and (suffix or not name.endswith("_reverse"))
    ]


def reverse_direction(module, layer: int = 0, share: bool = True):
    """The backward direction of one layer, as a unidirectional module.

    Returns a single-layer, unidirectional module of the same class
    (``nn.RNN`` with its nonlinearity, ``nn.GRU``, ``nn.LSTM`` with its
    ``proj_size``; for a subclass, the PyTorch class it derives from), with
    the same ``bias``, ``batch_first``, dtype and device, whose
    ``weight_ih_l0``, ... are the ``weight_ih_l{layer}_reverse``, ... of
    ``module``:

    - ``share=True``: the very same ``Parameter`` objects (training one
      trains the other; gradients from both graphs add up in one ``.grad``);
    - ``share=False``: independent copies (same values and
      ``requires_grad``).

    Its input size is ``I`` for ``layer == 0`` and ``2 * P`` for
    ``layer > 0``: layer ``l`` reads both directions of layer ``l - 1``
    (see ``first_layers``). Run on the time-reversed input
    (``reverse_sequence``), it returns the backward half of that layer's
    output, reversed in time, and its final state equals
    ``h_n[2 * layer + 1]`` (and ``c_n[2 * layer + 1]`` for an LSTM).
    Dropout between layers is not part of it: compare in ``eval()`` mode
    or with ``dropout=0``.

    cuDNN (read in PyTorch's source, untested here: the book runs on CPUs,
    where ``flatten_parameters()`` returns at once): ``flatten_parameters()``
    copies a module's weights into a new buffer and ``set_``s every weight
    to a view of it (``_cudnn_rnn_flatten_weight`` in
    ``aten/src/ATen/native/cudnn/RNN.cpp``), and ``.to()``/``.cuda()`` of
    an RNN module call it. Flattening a module that shares parameters would
    move them out of ``module``'s buffer, and ``module`` would then warn
    "not part of single contiguous chunk of memory" and copy at every call.
    So with ``share=True`` the result is never flattened here: its weights
    stay views into ``module``'s buffer, where cuDNN does not find one
    buffer of its own, so the *result* warns and copies at each call. Move
    ``module``, not the result, between devices. ``share=False`` copies
    are flattened (they share nothing).
    """
    _base_class(module)
    if not module.bidirectional:
        raise ValueError(
            f"module must be bidirectional (bidirectional=True) to have a "
            f"reverse direction, got a unidirectional {type(module).__name__}"
        )
    layer = check_int(
        "layer", layer, minimum=0, maximum=module.num_layers - 1
    )
    check_bool("share", share)

    input_size = module.input_size if layer == 0 else 2 * state_size(module)
    rev = _new_module(
        module, input_size=input_size, num_layers=1, bidirectional=False
    )
    for name in _layer_names(rev, 0, ""):
        source = name.removesuffix("_l0") + f"_l{layer}_reverse"
        setattr(rev, name, _take(getattr(module, source), share))
    if not share:  # never flatten shared parameters (see the docstring)
        rev.flatten_parameters()
    return rev


def _lengths_tensor(lengths, batch: int, steps: int) -> torch.Tensor:
    """Validate ``lengths`` against ``(B, T)`` and return them as a CPU int64 tensor."""
    if isinstance(lengths, torch.Tensor):
        if lengths.dtype not in _INT_DTYPES:
            raise TypeError(f"lengths must have an integer dtype, got {lengths.dtype}")
        if lengths.dim() != 1:
            raise ValueError(
                f"lengths must be 1-D of shape ({batch},), got shape {tuple(lengths.shape)}"
            )
        values = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, Sequence) and not isinstance(lengths, str):
        bad = [v for v in lengths if not isinstance(v, Integral) or isinstance(v, bool)]
        if bad:
            raise TypeError(f"lengths must hold ints, got {describe(bad[0])}")
        values = torch.tensor([int(v) for v in lengths], dtype=torch.int64)
    else:
        raise TypeError(
            f"lengths must be a 1-D integer tensor or a list of ints, got {describe(lengths)}"
        )
    if values.numel() != batch:
        raise ValueError(
            f"lengths must have one entry per sequence ({batch}), got {values.numel()}"
        )
    if values.numel() and (values.min() < 1 or values.max() > steps):
        raise ValueError(
            f"lengths must be in [1, {steps}] (the padded length T), "
            f"got min {int(values.min())} and max {int(values.max())}"
        )
    return values


def reverse_sequence(x: torch.Tensor, lengths=None, batch_first: bool = False) -> torch.Tensor:
    """Reverse each sequence of a padded batch over its first ``lengths[b]`` steps.

    ``x``: ``(T, B, *)`` (or ``(B, T, *)`` with ``batch_first=True``); any trailing dims.
    ``lengths``: ``(B,)`` integers in ``[1, T]`` (a CPU tensor or a list), or ``None`` for
    "every sequence is full length" (then it is ``x.flip(time_dim)``).
    Returns a new tensor of ``x``'s shape: step ``t < lengths[b]`` of sequence ``b`` holds its
    step ``lengths[b] - 1 - t``; padding steps stay where they are. Differentiable, and its
    own inverse: ``reverse_sequence(reverse_sequence(x, L), L)`` is ``x``.
    """
    check_tensor("x", x)
    check_bool("batch_first", batch_first)
    if x.dim() < 2:
        layout = "(B, T, *)" if batch_first else "(T, B, *)"
        raise ValueError(f"x must have at least 2 dims {layout}, got shape {tuple(x.shape)}")
    time_dim, batch_dim = (1, 0) if batch_first else (0, 1)
    steps, batch = x.shape[time_dim], x.shape[batch_dim]
    if lengths is None:
        return x.flip(time_dim)
    lengths = _lengths_tensor(lengths, batch, steps).to(x.device)

    t = torch.arange(steps, device=x.device).unsqueeze(1)  # (T, 1)
    source = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B): which step lands at t
    if batch_first:
        source = source.T  # (B, T)
    index = source.reshape(source.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(time_dim, index)


def merge_directions(forward, backward):
    """A single-layer bidirectional module from two unidirectional ones (the inverse view).

    ``forward`` and ``backward`` must be single-layer, unidirectional modules of the same
    class and hyperparameters (input size, hidden size, bias, batch_first, nonlinearity,
    proj_size, dtype, device). The result's ``*_l0`` parameters are copies of ``forward``'s,
    its ``*_l0_reverse`` copies of ``backward``'s (same values and ``requires_grad``; the
    inputs are not changed and share nothing with the result).

    Only ``num_layers=1``: a unidirectional stack's layer ``l > 0`` reads ``H`` features,
    while a bidirectional layer ``l > 0`` reads ``2 * H``, so deeper stacks cannot be merged.
    """
    forward_class = _base_class(forward, "forward")
    backward_class = _base_class(backward, "backward")
    if forward_class is not backward_class:
        raise TypeError(
            f"forward and backward must be the same class, "
            f"got {forward_class.__name__} and {backward_class.__name__}"
        )
    for name, module in (("forward", forward), ("backward", backward)):
        if module.bidirectional:
            raise ValueError(f"{name} must be unidirectional, got bidirectional=True")
        if module.num_layers != 1:
            raise ValueError(
                f"{name} must have num_layers=1 (a unidirectional layer l > 0 reads H "
                f"features, a bidirectional one 2H), got num_layers={module.num_layers}"
            )
    for attr in ("input_size", "hidden_size", "bias", "batch_first", "proj_size", "mode"):
        a, b = getattr(forward, attr), getattr(backward, attr)
        if a != b:
            raise ValueError(f"forward and backward must have equal {attr}, got {a!r} and {b!r}")
    for attr in ("dtype", "device"):
        a, b = getattr(forward.weight_ih_l0, attr), getattr(backward.weight_ih_l0, attr)
        if a != b:
            raise ValueError(f"forward and backward must have equal {attr}, got {a} and {b}")

    bi = _new_module(forward, input_size=forward.input_size, num_layers=1, bidirectional=True)
    for name in _layer_names(forward, 0, ""):
        setattr(bi, name, _take(getattr(forward, name), share=False))
        setattr(bi, name + "_reverse", _take(getattr(backward, name), share=False))
    bi.flatten_parameters()
    return bi


def first_layers(module, num_layers: int, share: bool = True):
    """The first ``num_layers`` layers of a stack, as a module of its class.

    Works for uni- and bidirectional modules. Its output is the output of
    layer ``num_layers - 1`` of ``module`` (the input of layer
    ``num_layers``), with shape ``(T, B, D * P)``, ``D = 2`` if
    bidirectional. Parameters are shared (``share=True``) or copied, as in
    ``reverse_direction``; as there, shared parameters are never flattened
    (``flatten_parameters()`` would move them out of ``module``'s cuDNN
    buffer; untested here).
    """
    _base_class(module)
    num_layers = check_int(
        "num_layers", num_layers, minimum=1, maximum=module.num_layers
    )
    check_bool("share", share)
    head = _new_module(
        module,
        input_size=module.input_size,
        num_layers=num_layers,
        bidirectional=module.bidirectional,
    )
    for name in [n for n, _ in head.named_parameters()]:
        setattr(head, name, _take(getattr(module, name), share))
    if not share:  # never flatten shared parameters (see reverse_direction)
        head.flatten_parameters()
    return head
