"""Check on a CUDA machine the cuDNN behaviours the book marks "untested here" (chapter 6).

    python tools/gpu_check.py        # a few minutes at most; prints what it finds

1. Parameters shared between RNN modules (``reverse_direction(share=True)``, which no longer
   flattens its result): which module warns "RNN module weights are not part of single
   contiguous chunk of memory"? Reading PyTorch's source (``_cudnn_rnn_flatten_weight`` ->
   ``copy_weights_to_flat_buf_views(..., set_orig_weights_to_flat_buf=true)`` and
   ``try_get_weight_buf`` in aten/src/ATen/native/cudnn/RNN.cpp) predicts: the shared result
   warns, the bidirectional original does not; after ``uni.flatten_parameters()`` (what the
   helper used to do) the original warns, and the two still share storage. Same for
   ``first_layers(share=True)``. What does a call cost, shared vs flattened?
1b. The warning's usual cause in the readers' threads (a weight replaced by a new tensor, as
   weight-drop code does) and the fixes the threads give: copy values in place with ``copy_()``
   under ``no_grad``, ``load_state_dict``, or ``flatten_parameters()`` after the change.
2. A frozen RNN in ``eval()``: does cuDNN refuse backward ("cudnn RNN backward can only be
   called in training mode") when only the input gradient is needed? Do the workarounds
   (``train()`` with ``requires_grad=False`` and ``dropout=0``; cuDNN disabled) work, and do
   they give the same input gradient?

Without CUDA it prints a message and exits with status 0. Every result is printed, never
asserted: the point is to record what this GPU does.
"""

from __future__ import annotations

import sys
import time
import warnings

import torch
from torch import nn

from birnn_utils.reverse import first_layers, reverse_direction


def caught_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, sorted({str(w.message).splitlines()[0] for w in caught})


def time_calls(fn, n=200):
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / n * 1e6  # microseconds per call


def shared_parameters(device):
    print("== 1. parameters shared between RNN modules")
    torch.manual_seed(0)
    bi = nn.GRU(16, 32, bidirectional=True).to(device)
    uni = reverse_direction(bi, share=True)
    x = torch.randn(50, 8, 16, device=device)
    pairs = [(n, getattr(bi, n + "_reverse")) for n, _ in uni.named_parameters()]
    shared = all(getattr(uni, n) is p for n, p in pairs)
    print(f"uni shares bi's *_reverse parameters (same objects): {shared}")
    print("predicted from the source: uni warns, bi does not")
    for name, module in (("bidirectional", bi), ("shared unidirectional", uni)):
        _, messages = caught_warnings(lambda m=module: m(x))
        print(f"{name} forward warnings: {messages or 'none'}")
    ptr_before = {n: getattr(uni, n).data_ptr() for n, _ in pairs}
    _, messages = caught_warnings(uni.flatten_parameters)
    print(f"uni.flatten_parameters() warnings: {messages or 'none'}")
    moved = [n for n, _ in pairs if getattr(uni, n).data_ptr() != ptr_before[n]]
    print(f"parameters whose storage moved: {moved or 'none'}")
    still = all(getattr(uni, n).data_ptr() == p.data_ptr() for n, p in pairs)
    print(f"after flatten: uni and bi still share storage: {still}")
    _, messages = caught_warnings(lambda: bi(x))
    print(f"bi forward warnings after uni.flatten_parameters(): {messages or 'none'}")
    print("predicted from the source: bi warns now (its reverse weights moved to uni's buffer)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_shared = time_calls(lambda: uni(x))
        copy = reverse_direction(bi, share=False)
        copy.flatten_parameters()
        t_copy = time_calls(lambda: copy(x))
    print(f"forward per call: shared {t_shared:.0f} us, independent flattened copy {t_copy:.0f} us")


def first_layers_shared(device):
    print("== 1a. first_layers(share=True) of a flattened stack")
    torch.manual_seed(0)
    bi = nn.LSTM(16, 32, num_layers=3, bidirectional=True).to(device)
    head = first_layers(bi, 2, share=True)
    x = torch.randn(50, 8, 16, device=device)
    for name, module in (("original (3 layers)", bi), ("shared head (2 layers)", head)):
        _, messages = caught_warnings(lambda m=module: m(x))
        print(f"{name} forward warnings: {messages or 'none'}")


def replaced_weights(device):
    print("== 1b. a weight replaced by a new tensor, and the three fixes")
    torch.manual_seed(0)
    x = torch.randn(50, 8, 16, device=device)

    def fresh():
        return nn.LSTM(16, 32).to(device)

    def report(what, rnn):
        _, messages = caught_warnings(lambda: rnn(x))
        print(f"{what}: warnings {messages or 'none'}")

    rnn = fresh()
    report("freshly built and moved", rnn)
    new = rnn.weight_hh_l0.detach() * 0.5
    rnn.weight_hh_l0 = nn.Parameter(new.clone())  # the threads' pattern
    report("after rnn.weight_hh_l0 = nn.Parameter(...)", rnn)
    rnn.flatten_parameters()
    report("  then rnn.flatten_parameters()", rnn)
    rnn = fresh()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(new)
    report("copy_() under no_grad instead", rnn)
    rnn = fresh()
    state = rnn.state_dict()
    state["weight_hh_l0"] = new.clone()
    rnn.load_state_dict(state)
    report("load_state_dict instead", rnn)


def frozen_rnn_in_eval(device):
    print("== 2. a frozen RNN in eval() mode")
    torch.manual_seed(0)
    rnn = nn.GRU(16, 32, dropout=0.0).to(device)
    rnn.requires_grad_(False)
    x = torch.randn(50, 8, 16, device=device, requires_grad=True)

    def input_grad():
        x.grad = None
        rnn(x)[0].sum().backward()
        return x.grad.clone()

    rnn.eval()
    try:
        input_grad()
        print("eval(), cuDNN on: backward worked")
    except RuntimeError as e:
        print(f"eval(), cuDNN on: RuntimeError: {str(e).splitlines()[0]}")
    rnn.train()
    g_train = input_grad()
    print("train() with requires_grad=False, dropout=0: backward worked")
    rnn.eval()
    with torch.backends.cudnn.flags(enabled=False):
        g_plain = input_grad()
    print("eval() with cuDNN disabled: backward worked")
    diff = (g_train - g_plain).abs().max().item()
    print(f"largest difference between the two input gradients: {diff:.2e}")


def main() -> int:
    if not torch.cuda.is_available():
        print("CUDA is not available: nothing to check here (run this on a CUDA machine).")
        return 0
    device = torch.device("cuda")
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{torch.cuda.get_device_name(device)}")
    checks = (shared_parameters, first_layers_shared, replaced_weights, frozen_rnn_in_eval)
    for check in checks:
        try:
            check(device)
        except Exception as e:  # record and go on: one failed check must not hide the other
            print(f"{check.__name__} failed: {type(e).__name__}: {str(e).splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
