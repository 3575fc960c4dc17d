"""FastBiGRU against nn.GRU and autograd: values, every gradient, gradcheck, bad inputs."""


import os

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from birnn_utils import ablation, fast, fast_ext
from birnn_utils.fast import (
    BiGRULayerFunction,
    BulkLoopBiGRU,
    FastBiGRU,
    LoopBiGRU,
)

# float32 tolerance against nn.GRU. Both compute the same math, but in a different order:
# our input projection is one GEMM over all steps, the weight gradients are sums over
# T * B rows done by one GEMM instead of an accumulation step by step, and the gates'
# derivatives are factored differently. Each reordered float32 sum of ~T*B terms has a
# relative error of a few ulps times sqrt(terms) (~1e-6); 1e-5 relative / 1e-5 absolute
# leaves a margin and is still far below any real bug (a wrong term is off by O(1)).
F32 = {"rtol": 1e-5, "atol": 1e-5}

# Both paths of FastBiGRU: the pure-PyTorch kernels, and the compiled layer where it builds
# (built once here, cached; under CI=true it must build, see test_compiled_layer_builds).
COMPILED = fast_ext.load(build=True)
KERNELS = [fast.Kernels] + ([fast_ext.Compiled] if COMPILED else [])
each_path = pytest.mark.parametrize("kernels", KERNELS, ids=lambda k: k.__name__)


def make_pair(seed, inp, hidden, dtype=torch.float32, cls=FastBiGRU, kernels=None, **kwargs):
    """An nn.GRU (bidirectional) and a ``cls`` with the same weights (from ``seed``),
    running ``kernels`` (None: the default)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        gru = nn.GRU(inp, hidden, bidirectional=True, dtype=dtype, **kwargs)
    model = cls.from_gru(gru)
    model.kernels = kernels
    return gru, model


def run_both(gru, fast, x, hx):
    """Outputs, h_n and every gradient of both modules for the same random loss."""
    gen = torch.Generator().manual_seed(123)
    results = []
    for module in (gru, fast):
        module.zero_grad()
        xi = x.clone().requires_grad_()
        hi = None if hx is None else hx.clone().requires_grad_()
        output, h_n = module(xi, hi)
        if not results:  # same random weighting of every output for both modules
            w_out = torch.randn(output.shape, generator=gen, dtype=x.dtype)
            w_h = torch.randn(h_n.shape, generator=gen, dtype=x.dtype)
        ((output * w_out).sum() + (h_n * w_h).sum()).backward()
        grads = {"x": xi.grad, **{name: p.grad for name, p in module.named_parameters()}}
        if hi is not None:
            grads["hx"] = hi.grad
        results.append((output, h_n, grads))
    return results


def assert_same(results, **tol):
    (out_ref, hn_ref, g_ref), (out, hn, g) = results
    torch.testing.assert_close(out, out_ref, **tol)
    torch.testing.assert_close(hn, hn_ref, **tol)
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        torch.testing.assert_close(g[name], g_ref[name], **tol, msg=lambda m, n=name: f"{n}: {m}")


def inputs(gru, steps, batch, with_hx, seed=1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, steps) if gru.batch_first else (steps, batch)
    x = torch.randn(*shape, gru.input_size, generator=gen, dtype=dtype)
    hx = None
    if with_hx:
        hx = torch.randn(2 * gru.num_layers, batch, gru.hidden_size, generator=gen, dtype=dtype)
    return x, hx


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_hx", [False, True])
@each_path
def test_matches_nn_gru_float32(batch_first, num_layers, with_hx, kernels):
    gru, fast = make_pair(0, 5, 8, kernels=kernels, num_layers=num_layers, batch_first=batch_first)
    x, hx = inputs(gru, steps=12, batch=4, with_hx=with_hx)
    assert_same(run_both(gru, fast, x, hx), **F32)


@pytest.mark.parametrize("cls", [LoopBiGRU, BulkLoopBiGRU])
@pytest.mark.parametrize("bias", [True, False])
def test_loop_versions_match_nn_gru(cls, bias):
    """The simpler hand-written BPTTs that chapter 8 and the benchmark start from."""
    gru, fast = make_pair(6, 5, 8, cls=cls, num_layers=2, bias=bias)
    x, hx = inputs(gru, steps=12, batch=4, with_hx=True)
    assert_same(run_both(gru, fast, x, hx), **F32)


@each_path
def test_matches_nn_gru_without_bias_and_unbatched(kernels):
    gru, fast = make_pair(1, 3, 6, kernels=kernels, num_layers=2, bias=False)
    assert "bias_ih_l0" not in dict(fast.named_parameters())
    x, hx = inputs(gru, steps=7, batch=3, with_hx=True)
    assert_same(run_both(gru, fast, x, hx), **F32)
    # unbatched input (T, I) with hx (2L, H)
    assert_same(run_both(gru, fast, x[:, 0], hx[:, 0]), **F32)


@given(
    steps=st.integers(1, 6),
    batch=st.integers(1, 3),
    inp=st.integers(1, 4),
    hidden=st.integers(1, 5),
    num_layers=st.integers(1, 2),
    bias=st.booleans(),
    batch_first=st.booleans(),
    with_hx=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_float64_matches_nn_gru(
    steps, batch, inp, hidden, num_layers, bias, batch_first, with_hx, seed
):
    # In float64 the summation-order differences are ~1e-15: a tight tolerance. Both paths.
    for kernels in KERNELS:
        gru, fast = make_pair(
            seed, inp, hidden, torch.float64, kernels=kernels, num_layers=num_layers, bias=bias,
            batch_first=batch_first,
        )
        x, hx = inputs(gru, steps, batch, with_hx, seed=seed + 1, dtype=torch.float64)
        assert_same(run_both(gru, fast, x, hx), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bias", [True, False])
@each_path
def test_gradcheck_float64(bias, kernels):
    """The hand-written backward against finite differences, for x, h0 and all weights."""
    steps, batch, inp, hidden = 3, 2, 3, 2
    gen = torch.Generator().manual_seed(7)

    def leaf(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    args = [leaf(steps, batch, inp), leaf(2, batch, hidden)]
    for _ in range(2):  # forward direction, then backward direction
        args += [leaf(3 * hidden, inp), leaf(3 * hidden, hidden)]
        args += [leaf(3 * hidden), leaf(3 * hidden)] if bias else [None, None]
    def layer(*tensors):
        return BiGRULayerFunction.apply(kernels, *tensors)

    assert torch.autograd.gradcheck(layer, args)


@each_path
def test_second_backward_with_retain_graph(kernels):
    """The backward reads the forward's buffers; a second backward must still be right."""
    gru, fast = make_pair(2, 3, 4, kernels=kernels)
    x, _ = inputs(gru, steps=5, batch=2, with_hx=False)
    out, h_n = fast(x)
    loss = out.square().sum() + h_n.sum()
    first = torch.autograd.grad(loss, list(fast.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(fast.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b)


def test_state_dict_is_nn_grus():
    gru, fast = make_pair(3, 4, 5, num_layers=2)
    assert list(fast.state_dict()) == list(gru.state_dict())
    fresh = FastBiGRU(4, 5, num_layers=2)
    fresh.load_state_dict(gru.state_dict())
    x, _ = inputs(gru, steps=3, batch=2, with_hx=False)
    torch.testing.assert_close(fresh(x)[0], gru(x)[0])


def test_no_grad_and_dropout_in_eval_mode():
    gru, fast = make_pair(4, 3, 4, num_layers=2, dropout=0.5)
    gru.eval(), fast.eval()
    x, _ = inputs(gru, steps=4, batch=2, with_hx=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], gru(x)[0])


def test_bad_inputs_raise_and_change_nothing():
    gru, fast = make_pair(5, 3, 4)
    x, hx = inputs(gru, steps=4, batch=2, with_hx=True)
    packed = pack_padded_sequence(x, torch.tensor([4, 2]))
    with pytest.raises(TypeError, match="use nn.GRU for packed sequences"):
        fast(packed)
    with pytest.raises(TypeError, match="input must be a tensor, got list"):
        fast(x.tolist())
    with pytest.raises(ValueError, match=r"3-D \(batched\) or 2-D \(unbatched\), got shape \(3,\)"):
        fast(x[0, 0])
    with pytest.raises(ValueError, match=r"input_size=3, got shape \(4, 2, 5\)"):
        fast(torch.randn(4, 2, 5))
    with pytest.raises(ValueError, match="no time steps"):
        fast(x[:0])
    with pytest.raises(TypeError, match=r"input must have the dtype of the model's parameters "
                       r"\(float32\), got Tensor of shape \(4, 2, 3\) float64"):
        fast(x.double())
    with pytest.raises(ValueError, match=r"hx must have shape \(2, 2, 4\)"):
        fast(x, hx[:1])
    with pytest.raises(TypeError, match="hx must be a tensor .* got tuple"):
        fast(x, (hx, hx))
    with pytest.raises(TypeError, match="hx must have the dtype of the model's parameters"):
        fast(x, hx.double())
    with pytest.raises(ValueError, match="use nn.GRU for a one-directional GRU"):
        FastBiGRU(3, 4, bidirectional=False)
    two_layer = FastBiGRU(3, 4, num_layers=2, dropout=0.3)
    with pytest.raises(ValueError, match=r"dropout=0.3 in training mode\); use nn.GRU"):
        two_layer(x)
    # nothing was modified by the rejected calls
    torch.testing.assert_close(fast.weight_ih_l0, gru.weight_ih_l0)
    assert all(p.grad is None for p in fast.parameters())


def results_equal(a, b):
    """Bitwise equality of two run_both results (NaN equal to NaN)."""
    for (out_a, hn_a, grads_a), (out_b, hn_b, grads_b) in zip(a, b, strict=True):
        assert torch.equal(out_a, out_b) and torch.equal(hn_a, hn_b)
        assert grads_a.keys() == grads_b.keys()
        for name in grads_a:
            torch.testing.assert_close(grads_a[name], grads_b[name], rtol=0, atol=0,
                                       equal_nan=True)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test on one and on two threads (the compiled layer's directions in parallel)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)


@pytest.mark.parametrize("fill", [float("nan"), None])
@pytest.mark.parametrize("size", [(6, 2, 4), (7, 24, 128)], ids=["small", "larger"])
@each_path
def test_every_buffer_entry_is_written_before_it_is_read(
    monkeypatch, fill, size, kernels, threads
):
    """NaN-filled (or uninitialised) work buffers give bitwise the zero-filled result: no
    entry of any buffer is read before the loops write it. The compiled layer runs in
    chunks of 2 steps here (2, 2, 2 and the rest), forward and backward."""
    steps, batch, hidden = size
    if kernels is not fast.Kernels:
        kernels = type("TwoStepChunks", (kernels,), {"chunk_elements": 2 * batch * 3 * hidden})
    gru, fast_gru = make_pair(8, 3, hidden, kernels=kernels, num_layers=2)
    x, hx = inputs(gru, steps=steps, batch=batch, with_hx=True)
    monkeypatch.setattr(fast, "BUFFER_FILL", 0.0)
    monkeypatch.setattr(fast_ext, "BUFFER_FILL", 0.0)
    expected = run_both(gru, fast_gru, x, hx)
    assert_same(expected, **F32)
    monkeypatch.setattr(fast, "BUFFER_FILL", fill)
    monkeypatch.setattr(fast_ext, "BUFFER_FILL", fill)
    results_equal(run_both(gru, fast_gru, x, hx), expected)
    with torch.no_grad():  # the inference path, with its reused one-step buffers
        assert torch.equal(fast_gru(x, hx)[0], expected[1][0])


@each_path
def test_inference_path_equals_the_autograd_path(kernels):
    gru, fast_gru = make_pair(9, 3, 5, kernels=kernels, num_layers=2, batch_first=True)
    x, hx = inputs(gru, steps=5, batch=3, with_hx=True)
    with torch.no_grad():
        out_ng, hn_ng = fast_gru(x, hx)
    out, hn = fast_gru(x, hx)
    assert out.grad_fn is not None and out_ng.grad_fn is None
    assert torch.equal(out, out_ng) and torch.equal(hn, hn_ng)


NON_FINITE = [float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize(
    "cls, kernels",
    [(FastBiGRU, k) for k in KERNELS] + [(LoopBiGRU, None), (BulkLoopBiGRU, None)],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("where", ["x", "hx"])
def test_non_finite_inputs_match_nn_gru(cls, kernels, value, where):
    """With ±inf or NaN in the input (or h0), every output and gradient is what nn.GRU gives:
    the same finite values where nn.GRU's are finite, NaN exactly where nn.GRU's are NaN."""
    gru, fast_gru = make_pair(10, 3, 4, cls=cls, kernels=kernels, num_layers=2)
    x, hx = inputs(gru, steps=5, batch=3, with_hx=True)
    (x if where == "x" else hx)[1, 1, 0] = value
    (out_ref, hn_ref, g_ref), (out, hn, g) = run_both(gru, fast_gru, x, hx)
    if where == "x" and value != value:  # NaN in x reaches some outputs
        assert out_ref.isnan().any()
    elif where == "x":  # saturated gates: nn.GRU's outputs stay finite
        assert out_ref.isfinite().all()
    for got, ref in [(out, out_ref), (hn, hn_ref), *((g[k], g_ref[k]) for k in g_ref)]:
        torch.testing.assert_close(got, ref, **F32, equal_nan=True)


@pytest.mark.parametrize("name", list(ablation.VARIANTS))
def test_ablation_variants_match_nn_gru(name):
    gru, _ = make_pair(11, 3, 4, num_layers=2)
    model = ablation.make(gru, ablation.VARIANTS[name])
    x, hx = inputs(gru, steps=6, batch=2, with_hx=True)
    assert_same(run_both(gru, model, x, hx), **F32)
    with torch.no_grad():
        torch.testing.assert_close(model(x, hx)[0], gru(x, hx)[0], **F32)


def test_compiled_layer_builds():
    """Where a C++ compiler is present the compiled layer builds and becomes the default;
    under CI=true (a machine with g++) not building is a failure, not a skip."""
    if not COMPILED:
        assert os.environ.get("CI") != "true", f"no compiled layer: {fast_ext.status()['reason']}"
        pytest.skip(f"compiled layer unavailable: {fast_ext.status()['reason']}")
    assert fast.default_kernels() is fast_ext.Compiled
    assert fast_ext.status()["loaded"] and fast_ext.load() is True


def compiled_variants():
    """The compiled layer with each subset of its three ideas switched on, with chunks of
    the default size, of 2 steps at the first size below (120 values, B = 3, 3H = 18: 2, 2,
    2, 2, 1) and of 1 step."""
    if not COMPILED:
        return []
    return [
        type(f"Flags{flags}Chunk{size}", (fast_ext.Compiled,),
             {"flags": flags, "chunk_elements": size})
        for flags in range(8)
        for size in (fast_ext.Compiled.chunk_elements, 120, 1)
    ]


@pytest.mark.parametrize("variant", compiled_variants(), ids=lambda k: k.__name__)
def test_compiled_layer_equals_the_pure_path(variant, threads):
    """Every flag combination and chunk size of the compiled layer, on one thread and on two
    (the directions on their own threads), against the pure path: equal up to float64
    rounding (other kernels, other summation order), and against nn.GRU in float32."""
    for steps, batch, hidden, bias in [(9, 3, 6, True), (7, 5, 9, False)]:
        gru, compiled = make_pair(12, 4, hidden, torch.float64, kernels=variant, bias=bias)
        _, pure = make_pair(12, 4, hidden, torch.float64, kernels=fast.Kernels, bias=bias)
        x, hx = inputs(gru, steps=steps, batch=batch, with_hx=True, dtype=torch.float64)
        (_, a), (_, b) = run_both(gru, compiled, x, hx), run_both(gru, pure, x, hx)
        assert_same((b, a), rtol=1e-12, atol=1e-12)
    gru, compiled = make_pair(12, 4, 6, kernels=variant, num_layers=2)
    x, hx = inputs(gru, steps=9, batch=3, with_hx=True)
    assert_same(run_both(gru, compiled, x, hx), **F32)


def test_compiled_layer_leaves_other_dtypes_to_the_pure_path():
    """float32 and float64 on the CPU run in C++; bfloat16 takes the pure path, unchanged."""
    if not COMPILED:
        pytest.skip(f"compiled layer unavailable: {fast_ext.status()['reason']}")
    gru, compiled = make_pair(14, 3, 4, torch.bfloat16, kernels=fast_ext.Compiled)
    _, pure = make_pair(14, 3, 4, torch.bfloat16, kernels=fast.Kernels)
    x, hx = inputs(gru, steps=5, batch=2, with_hx=True, dtype=torch.float32)
    x, hx = x.bfloat16(), hx.bfloat16()
    results_equal(run_both(gru, compiled, x, hx), run_both(gru, pure, x, hx))


def test_fast_ext_without_a_build(monkeypatch, tmp_path):
    """load(build=False) never compiles: with an empty cache it declines and says why."""
    monkeypatch.setattr(fast_ext, "_STATE", dict(fast_ext._STATE, loaded=False))
    monkeypatch.setenv("BIRNN_EXT_DIR", str(tmp_path))
    assert fast_ext.build_dir() == tmp_path
    assert fast_ext.load(build=False) is False
    assert "not built yet" in fast_ext.status()["reason"]
    assert fast.default_kernels() is fast.Kernels
    with pytest.raises(TypeError, match="build must be a bool, got str 'yes'"):
        fast_ext.load(build="yes")


@each_path
def test_double_backward_is_refused_clearly(kernels):
    """The contract: differentiable once. create_graph=True raises NotImplementedError
    (a RuntimeError), and a plain backward still works afterwards."""
    gru, fast_gru = make_pair(13, 3, 4, kernels=kernels)
    x, _ = inputs(gru, steps=4, batch=2, with_hx=False)
    out, h_n = fast_gru(x.requires_grad_())
    with pytest.raises(NotImplementedError, match="differentiable once"):
        torch.autograd.grad(out.sum(), x, create_graph=True, retain_graph=True)
    assert issubclass(NotImplementedError, RuntimeError)
    (grad,) = torch.autograd.grad(out.sum() + h_n.sum(), x)
    assert grad.shape == x.shape


def snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}, module.training


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"hidden_size": -1}, ValueError, "hidden_size must be an int >= 1, got -1"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size must be an int, got float 2.5"),
        ({"input_size": 0}, ValueError, "input_size must be an int >= 1, got 0"),
        ({"num_layers": 0}, ValueError, "num_layers must be an int >= 1, got 0"),
        ({"num_layers": True}, TypeError, "num_layers must be an int, got bool True"),
        ({"dropout": 1.5}, ValueError, r"dropout must be a finite number >= 0.0 and <= 1.0, "
         "got 1.5"),
        ({"dropout": "0.1"}, TypeError, "dropout must be a real number, got str '0.1'"),
        ({"bidirectional": "False"}, TypeError, "bidirectional must be a bool, got str 'False'"),
        ({"bias": 1}, TypeError, "bias must be a bool, got int 1"),
        ({"batch_first": None}, TypeError, "batch_first must be a bool, got NoneType None"),
        ({"dtype": torch.int64}, TypeError, "dtype must be a floating-point torch.dtype"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, error, message):
    args = {"input_size": 3, "hidden_size": 4, **kwargs}
    with pytest.raises(error, match=message):
        FastBiGRU(**args)


BAD_SIZES = st.one_of(
    st.integers(max_value=0), st.booleans(), st.floats(allow_nan=True), st.text(max_size=3),
    st.none(), st.lists(st.integers(1, 3), max_size=2),
)


@given(name=st.sampled_from(["input_size", "hidden_size", "num_layers"]), value=BAD_SIZES)
def test_property_bad_sizes_are_refused_by_name(name, value):
    args = {"input_size": 3, "hidden_size": 4, name: value}
    with pytest.raises((TypeError, ValueError), match=name):
        FastBiGRU(**args)


@given(value=st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats()))
def test_property_non_bool_flags_are_refused(value):
    for name in ("bias", "batch_first", "bidirectional"):
        with pytest.raises(TypeError, match=f"{name} must be a bool"):
            FastBiGRU(3, 4, **{name: value})


BAD_INPUTS = st.one_of(
    st.builds(lambda s: torch.zeros(s), st.lists(st.integers(0, 3), min_size=0, max_size=4)),
    st.builds(lambda d: torch.zeros(4, 2, 3, dtype=d),
              st.sampled_from([torch.float64, torch.int64, torch.bool, torch.float16])),
    st.just(torch.zeros(4, 2, 3, device="meta")),
    st.lists(st.floats(), max_size=3), st.none(), st.text(max_size=3),
)


@given(x=BAD_INPUTS)
def test_property_bad_inputs_raise_and_change_nothing(x):
    gru, fast_gru = make_pair(14, 3, 4)
    before = snapshot(fast_gru)
    ok_shape = isinstance(x, torch.Tensor) and x.dim() == 3 and x.shape[-1] == 3 and (
        x.shape[0] > 0 and x.shape[1] > 0)
    ok_shape = ok_shape or (isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[-1] == 3
                            and x.shape[0] > 0)
    if ok_shape and x.dtype == torch.float32 and x.device.type == "cpu":
        return  # a valid input, not a bad one
    with pytest.raises((TypeError, ValueError), match="input"):
        fast_gru(x)
    after = snapshot(fast_gru)
    assert after[1] == before[1]
    assert all(torch.equal(after[0][k], before[0][k]) for k in before[0])
    assert all(p.grad is None for p in fast_gru.parameters())


def test_messages_are_in_the_callers_terms():
    """A batch_first caller reads its own (B, T, I) shapes; a device mismatch is named."""
    _, fast_gru = make_pair(15, 3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"input_size=3, got shape \(2, 7, 5\)"):
        fast_gru(torch.zeros(2, 7, 5))
    with pytest.raises(ValueError, match=r"input has an empty batch, got shape \(0, 7, 3\)"):
        fast_gru(torch.zeros(0, 7, 3))
    with pytest.raises(ValueError, match=r"hx must have shape \(2, 2, 4\), got \(2, 7, 4\)"):
        fast_gru(torch.zeros(2, 7, 3), torch.zeros(2, 7, 4))
    with pytest.raises(ValueError, match=r"input must be on the device of the model's "
                       r"parameters \(cpu\), got meta"):
        fast_gru(torch.zeros(2, 7, 3, device="meta"))
    with pytest.raises(ValueError, match=r"hx must be on the device of the model's "
                       r"parameters \(cpu\), got meta"):
        fast_gru(torch.zeros(2, 7, 3), torch.zeros(2, 2, 4, device="meta"))
    with pytest.raises(TypeError, match="gru must be a GRU, got LSTM"):
        FastBiGRU.from_gru(nn.LSTM(3, 4))


def test_fast_ext_failed_build_falls_back(monkeypatch, tmp_path):
    """A failed build (no compiler, a compile error) is reported, never raised; the pure loops
    stay in use."""
    from torch.utils import cpp_extension

    def broken_build(*args, **kwargs):
        raise OSError("no C++ compiler found\nsecond line")

    monkeypatch.setattr(fast_ext, "_STATE", dict(fast_ext._STATE, loaded=False))
    monkeypatch.setenv("BIRNN_EXT_DIR", str(tmp_path))
    monkeypatch.setattr(cpp_extension, "load", broken_build)
    assert fast_ext.load(build=True) is False
    assert fast_ext.status()["reason"] == "OSError: no C++ compiler found"
    assert fast.default_kernels() is fast.Kernels


def test_cpp_source_prints_one_function_with_its_comment():
    text = fast_ext.cpp_source("gates_forward")
    assert text.startswith("// Forward gate math") and "template <typename T>" in text
    assert text.rstrip().endswith("}") and text.count("void gates_forward(") == 1
    assert "gates_backward" not in text
    with pytest.raises(ValueError, match="name must be a function of bigru_layer.cpp, got 'nope'"):
        fast_ext.cpp_source("nope")
    with pytest.raises(TypeError, match="name must be a str .a C.. identifier., got int 3"):
        fast_ext.cpp_source(3)
    with pytest.raises(ValueError, match="name must be a C.. identifier, got 'gates forward'"):
        fast_ext.cpp_source("gates forward")


def test_compiled_ladder_switches_off_one_idea_per_row():
    """The compiled ablation: the final version, one flag off per row, then pure PyTorch."""
    rows = ablation.compiled_variants()
    if not COMPILED:
        assert rows == {}
        return
    kernels = list(rows.values())
    assert kernels[0] is fast_ext.Compiled and kernels[-1] is fast.Kernels
    everything = fast_ext.PARALLEL | fast_ext.FUSED | fast_ext.CHUNKED
    assert fast_ext.Compiled.flags == everything
    assert [k.flags for k in kernels[1:-1]] == [everything & ~f for f in (1, 2, 4)]
    assert list(rows)[1:-1] == list(ablation.COMPILED_IDEAS)


@pytest.mark.parametrize("size", [(1, 1, 1), (5, 3, 12), (9, 2, 8)], ids=str)
@pytest.mark.parametrize("chunk", [1, 131072], ids=["chunk1", "default"])
def test_compiled_layer_on_two_threads_with_odd_gradients(size, chunk, threads):
    """The compiled layer in float32 on one and two threads, at T = B = H = 1, at H = 12
    (a full SIMD vector plus a tail) and H = 8, against nn.GRU: with a loss whose gradient
    w.r.t. h_n has transposed strides (h_n.mT in the loss), and with an input that needs no
    gradient (the weight gradients alone)."""
    if not COMPILED:
        pytest.skip(f"compiled layer unavailable: {fast_ext.status()['reason']}")
    steps, batch, hidden = size
    kernels = type("Chunked", (fast_ext.Compiled,), {"chunk_elements": chunk})
    gru, model = make_pair(15, 3, hidden, kernels=kernels, num_layers=2)
    x, hx = inputs(gru, steps=steps, batch=batch, with_hx=True)
    weights = torch.randn(4, hidden, batch, generator=torch.Generator().manual_seed(2))
    results = []
    for module in (gru, model):
        output, h_n = module(x, hx)  # x and hx need no gradient
        loss = output.square().sum() + (h_n.mT * weights).sum()  # d h_n: strides (HB, 1, H)
        results.append(torch.autograd.grad(loss, list(module.parameters())))
        results[-1] = (output, h_n, *results[-1])
    for got, expected in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, expected, **F32)
