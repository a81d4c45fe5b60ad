"""The ``motifs`` command and mothlib.networks.netfile: files written here, read back safely, results
checked against the library (module_masks + motif_zscores), and every bad input refused with one
line."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from torch import nn
from torch.nn.utils import prune

from mothlib.__main__ import main
from mothlib.core.masks import module_masks
from mothlib.networks.netfile import read_network, read_tensors
from mothlib.motifs.significance import motif_zscores

REPO = Path(__file__).resolve().parents[1]
NUMERIC = ["count", "null_mean", "null_std", "z", "p_value", "sp"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cli(*args: str, cwd: Path | None = None, exe: list[str] | None = None) -> subprocess.CompletedProcess:
    """The command as a user runs it, in a fresh process that imports this checkout's mothlib."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = (exe or [sys.executable, "-m", "mothlib"]) + ["motifs", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _main(capfd, *args: str) -> tuple[int, str, str]:
    """The command in this process (same code path as the console script): status, stdout, stderr."""
    try:
        status = main(["motifs", *map(str, args)])
    except SystemExit as exit_:  # argparse errors
        status = exit_.code
    out, err = capfd.readouterr()
    return status, out, err


def _sparse_mlp(sizes, *, seed, bias=True, density=0.6, act=nn.Tanh) -> nn.Sequential:
    """An nn.Sequential MLP with about ``1 - density`` of its weights (and biases) set to zero."""
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        if i:
            layers.append(act())
        lin = nn.Linear(n_in, n_out, bias=bias)
        with torch.no_grad():
            lin.weight.normal_(generator=gen)
            lin.weight.mul_(torch.rand(lin.weight.shape, generator=gen) < density)
            if bias:
                lin.bias.normal_(generator=gen)
                lin.bias.mul_(torch.rand(lin.bias.shape, generator=gen) < density)
        layers.append(lin)
    return nn.Sequential(*layers)


class Named(nn.Module):
    """The layers of a Sequential under names whose alphabetical order is not the chain's."""

    def __init__(self, seq: nn.Sequential) -> None:
        super().__init__()
        lins = [m for m in seq if isinstance(m, nn.Linear)]
        self.input, self.hidden, self.output = lins
        self.act = nn.ReLU()

    def forward(self, x):  # pragma: no cover - only the weights matter here
        return self.output(self.act(self.hidden(self.act(self.input(x)))))


def _library(model: nn.Module, null: str, n_null: int, seed: int, clean: bool = True) -> pd.DataFrame:
    ws, bs = module_masks(model)
    return motif_zscores(ws, bs, n_null=n_null, null_model=null, seed=seed, clean=clean)


def _same(cli: pd.DataFrame, lib: pd.DataFrame) -> None:
    assert list(cli["motif"]) == list(lib["motif"])
    for col in NUMERIC:
        np.testing.assert_allclose(
            cli[col].to_numpy(float), lib[col].to_numpy(float), rtol=1e-12, equal_nan=True, err_msg=col
        )
    assert list(cli["z_note"].fillna("")) == list(lib["z_note"])


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""]).assign(
            z_note=lambda d: d["z_note"].fillna("")
        )
    return pd.read_json(path, orient="records")


def _save_state_dict(model: nn.Module, path: Path) -> Path:
    torch.save(model.state_dict(), path)
    return path


def _save_safetensors(model: nn.Module, path: Path) -> Path:
    safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


# ---------------------------------------------------------------- the command vs the library
@pytest.mark.parametrize(
    ("saver", "suffix", "out"),
    [(_save_safetensors, ".safetensors", ".json"), (_save_state_dict, ".pt", ".csv")],
)
def test_command_equals_library_both_nulls(tmp_path, saver, suffix, out):
    model = _sparse_mlp([5, 9, 7, 3], seed=1)
    path = saver(model, tmp_path / f"net{suffix}")
    res = _cli(path, "--null", "both", "--n-null", "6", "--seed", "3", "--out", tmp_path / f"r{out}")
    assert res.returncode == 0, res.stderr
    table = _read(tmp_path / f"r{out}")
    assert list(table.columns)[:2] == ["null_model", "n_null"] and (table["n_null"] == 6).all()
    for null in ("layer-edges", "degree-preserving"):
        _same(table[table["null_model"] == null].reset_index(drop=True), _library(model, null, 6, 3))
        assert f"null model {null}: 6 samples, seed 3" in res.stdout
    for head in ("motif", "count", "null mean", "null std", "z", "p", "sp", "note"):
        assert head in res.stdout
    assert "nulls" in res.stderr  # the progress bar


def test_pruned_state_dict_uses_prune_masks(tmp_path):
    model = _sparse_mlp([6, 10, 8, 2], seed=2, density=1.0)
    for i, lin in enumerate(m for m in model if isinstance(m, nn.Linear)):
        prune.l1_unstructured(lin, "weight", amount=0.5 + 0.1 * i)
        prune.random_unstructured(lin, "bias", amount=0.3)
    sd = model.state_dict()
    assert "0.weight_orig" in sd and "0.weight_mask" in sd and "0.bias_mask" in sd
    # weight_orig is dense: only the masks say what was pruned.
    assert bool((sd["0.weight_orig"] != 0).all())
    path = _save_state_dict(model, tmp_path / "pruned.pt")
    res = _cli(path, "--n-null", "5", "--seed", "7", "--out", tmp_path / "r.parquet", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    _same(_read(tmp_path / "r.parquet"), _library(model, "layer-edges", 5, 7))


def test_relu_without_biases_and_no_clean(tmp_path):
    model = _sparse_mlp([4, 8, 8, 3], seed=3, bias=False, act=nn.ReLU, density=0.8)
    path = _save_state_dict(model, tmp_path / "nobias.pt")
    res = _cli(path, "--null", "degree-preserving", "--n-null", "4", "--seed", "5", "--no-clean",
               "--out", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    assert "3 linear layers in key order" in res.stdout and "0 with bias" in res.stdout
    _same(_read(tmp_path / "r.json"), _library(model, "degree-preserving", 4, 5, clean=False))


def test_sequential_and_named_submodules_agree(tmp_path, capfd):
    seq = _sparse_mlp([3, 6, 5, 2], seed=4, act=nn.ReLU)
    named = Named(seq)
    for model, name in ((seq, "seq.safetensors"), (named, "named.safetensors"), (named, "named.pt")):
        saver = _save_safetensors if name.endswith(".safetensors") else _save_state_dict
        saver(model, tmp_path / name)
    tables, outs = [], []
    for name in ("seq.safetensors", "named.safetensors", "named.pt"):
        status, out, err = _main(capfd, tmp_path / name, "--n-null", "4", "--out", tmp_path / f"{name}.csv")
        assert status == 0, err
        tables.append(_read(tmp_path / f"{name}.csv"))
        outs.append(out)
    assert "in key order: 0 3->6, 2 6->5, 4 5->2" in outs[0]
    # safetensors keeps no key order: input/hidden/output sort wrongly, the shapes decide.
    assert "ordered by their shapes: input 3->6, hidden 6->5, output 5->2" in outs[1]
    assert "in key order: input 3->6, hidden 6->5, output 5->2" in outs[2]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(other, tables[0])


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("mothlib")
    if not script.exists():
        pytest.skip("the mothlib console script is not installed in this environment")
    path = _save_state_dict(_sparse_mlp([3, 4, 2], seed=5), tmp_path / "n.pt")
    res = _cli(path, "--n-null", "3", "--no-progress", exe=[str(script)])
    assert res.returncode == 0, res.stderr
    assert "null model layer-edges: 3 samples" in res.stdout


# ------------------------------------------------------------------------------ bad input
def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {}
    nan = _sparse_mlp([3, 4, 2], seed=6).state_dict()
    nan["2.weight"][0, 0] = float("nan")
    files["nan"] = tmp / "nan.pt"
    torch.save(nan, files["nan"])
    files["nolinear"] = tmp / "conv.pt"
    torch.save(nn.Sequential(nn.Conv2d(1, 2, 3), nn.LayerNorm(4)).state_dict(), files["nolinear"])
    files["nochain"] = tmp / "nochain.safetensors"
    safetensors.torch.save_file({"a.weight": torch.ones(5, 4), "b.weight": torch.ones(2, 6)}, str(files["nochain"]))
    files["whole"] = tmp / "whole.pt"
    torch.save(_sparse_mlp([3, 4, 2], seed=7), files["whole"])
    files["text"] = tmp / "notes.txt"
    files["text"].write_text("not a network\n")
    files["bytes"] = tmp / "noise.bin"
    files["bytes"].write_bytes(np.random.default_rng(0).bytes(100))
    files["ok"] = _save_state_dict(_sparse_mlp([3, 4, 2], seed=8), tmp / "ok.pt")
    return files


BAD = [
    ("missing", ["{tmp}/absent.pt"], "no such file"),
    ("nan", ["{nan}"], "non-finite weights: '2.weight'"),
    ("nolinear", ["{nolinear}"], "no linear layers"),
    ("nochain", ["{nochain}"], "'a' (5 outputs) and 'b' (6 inputs) do not chain"),
    ("nochain-layers", ["{nochain}", "--layers", "b,a"], "'b' (2 outputs) and 'a' (4 inputs) do not chain"),
    ("unknown-layer", ["{ok}", "--layers", "0,fc9"], "no linear layer 'fc9'"),
    ("whole-model", ["{whole}"], "refused, reading it would unpickle torch.nn.modules.container.Sequential"),
    ("random-bytes", ["{bytes}"], "not a safetensors file or a PyTorch state dict"),
    ("text", ["{text}"], "not a safetensors file or a PyTorch state dict"),
    ("null", ["{ok}", "--null", "bogus"], "invalid choice: 'bogus'"),
    ("n-null", ["{ok}", "--n-null", "-1"], "expected a non-negative integer"),
    ("seed", ["{ok}", "--seed", "x"], "expected an integer"),
    ("out-suffix", ["{ok}", "--out", "{tmp}/r.txt"], "--out: unknown suffix '.txt'"),
    ("device", ["{ok}", "--device", "nonsense"], "device: cannot use torch device 'nonsense'"),
    ("no-file-arg", [], "the following arguments are required: FILE"),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    return {"tmp": tmp, **_bad_files(tmp)}


def _one_error_line(status, out: str, err: str, message: str) -> None:
    assert status not in (0, None)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize(("case", "args", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_one_error_line(bad_files, capfd, case, args, message):
    _one_error_line(*_main(capfd, *[a.format(**bad_files) for a in args]), message)
    assert not (bad_files["tmp"] / "r.txt").exists()


@pytest.mark.parametrize("case", ["missing", "nan", "null"])
def test_bad_input_as_a_process(bad_files, case):
    """A few of the above in a fresh process: exit status and stderr as a shell sees them."""
    _, args, message = next(b for b in BAD if b[0] == case)
    res = _cli(*[a.format(**bad_files) for a in args])
    _one_error_line(res.returncode, res.stdout, res.stderr, message)


# ------------------------------------------------------------------------- the unsafe pickle
class _Payload:
    """Unpickling this would run ``exec`` and create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.mark.parametrize("how", ["pickle", "torch-zip", "torch-legacy"])
def test_malicious_pickle_never_runs(tmp_path, capfd, how):
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / "evil.pt"
    obj = {"0.weight": torch.ones(2, 2), "evil": _Payload(marker)}
    if how == "pickle":
        with open(path, "wb") as handle:
            pickle.dump(_Payload(marker), handle)
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=how == "torch-zip")
    assert not marker.exists()
    if how == "torch-zip":  # the usual format, in a fresh process
        res = _cli(path, "--n-null", "2")
        status, out, err = res.returncode, res.stdout, res.stderr
    else:
        status, out, err = _main(capfd, path, "--n-null", "2")
    assert not marker.exists()
    _one_error_line(status, out, err, "refused")
    assert "torch.save(model.state_dict(), path)" in err
    if how != "pickle":  # torch's own files name the object the payload needs
        assert "would unpickle exec" in err
    with pytest.raises(ValueError, match="refused"):
        read_tensors(path)
    assert not marker.exists()


# --------------------------------------------------------------- netfile, in process (fast)
@pytest.mark.parametrize("seed", range(6))
def test_read_network_equals_module_masks(tmp_path, seed):
    """Random shapes, sparsity, biases and pruning: the file gives module_masks' masks."""
    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in rng.integers(1, 9, size=int(rng.integers(2, 6)))]
    model = _sparse_mlp(sizes, seed=seed, bias=bool(rng.random() < 0.7), density=float(rng.uniform(0.2, 1)))
    for lin in (m for m in model if isinstance(m, nn.Linear)):
        if rng.random() < 0.5:
            prune.random_unstructured(lin, "weight", amount=float(rng.uniform(0, 0.9)))
    ws, bs = module_masks(model)
    for saver, name in ((_save_state_dict, "m.pt"), (_save_safetensors, "m.safetensors")):
        net = read_network(saver(model, tmp_path / name))
        assert len(net.weight_masks) == len(ws) and net.sizes == sizes
        for a, b in zip(net.weight_masks, ws):
            assert a.dtype == bool and np.array_equal(a, b)
        for a, b in zip(net.bias_masks, bs):
            assert (a is None and b is None) or np.array_equal(a, b)


def test_safetensors_natural_order_and_layers_option(tmp_path):
    sizes = list(range(2, 15))  # 12 layers: "10" and "11" sort before "2" as text
    model = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
    net = read_network(_save_safetensors(model, tmp_path / "deep.safetensors"))
    assert net.layers == [str(i) for i in range(12)] and net.order_from == "keys"
    sq = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 3))
    sd = {"head.weight": sq[2].weight, "a.weight": sq[1].weight, "b.weight": sq[0].weight}
    path = tmp_path / "sq.pt"
    torch.save(sd, path)
    # Key order does not chain (head first); two orders of a and b do: ambiguous.
    with pytest.raises(ValueError, match="more than one order.*--layers"):
        read_network(path)
    net = read_network(path, ["b", "a", "head"])
    assert net.layers == ["b", "a", "head"] and net.order_from == "--layers"
    assert np.array_equal(net.weight_masks[0], (sq[0].weight != 0).numpy())
    with pytest.raises(ValueError, match="names a layer twice"):
        read_network(path, ["b", "b", "head"])


def test_non_linear_tensors_are_skipped_and_checkpoints_unwrapped(tmp_path):
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 3, 2)  # 3-D weight: not a linear layer
            self.fc1 = nn.Linear(6, 4)
            self.norm = nn.LayerNorm(4)  # 1-D weight
            self.fc2 = nn.Linear(4, 2, bias=False)

    model = Mixed()
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model": model.state_dict(), "note": "x"}, path)
    net = read_network(path)
    assert net.layers == ["model.fc1", "model.fc2"] and net.bias_masks[1] is None
    bare = tmp_path / "bare.pt"
    torch.save(nn.Linear(3, 2).state_dict(), bare)
    assert read_network(bare).layers == [""]


def test_bad_prune_mask_and_shapes(tmp_path):
    sd = {"l.weight_orig": torch.ones(2, 3), "l.weight_mask": torch.full((2, 3), 0.5)}
    torch.save(sd, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="only 0 and 1"):
        read_network(tmp_path / "m.pt")
    sd = {"l.weight": torch.ones(2, 3), "l.bias": torch.ones(3)}
    torch.save(sd, tmp_path / "b.pt")
    with pytest.raises(ValueError, match=r"bias of layer 'l' has shape \(3,\)"):
        read_network(tmp_path / "b.pt")
    with pytest.raises(FileNotFoundError):
        read_network(tmp_path / "absent.safetensors")


# ---------------------------------------------------------------- tensors the command does not count
class _CNN(nn.Module):
    """Two convolutions and a batch norm before two linear layers: only the linear layers chain."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc1 = nn.Linear(8 * 4 * 4, 6)
        self.fc2 = nn.Linear(6, 3)


def test_conv_state_dict_gets_a_warning_naming_every_skipped_tensor(tmp_path):
    torch.manual_seed(0)
    model = _CNN()
    path = _save_state_dict(model, tmp_path / "cnn.pt")
    res = _cli(path, "--n-null", "3", "--no-progress", "--null", "degree-preserving")
    assert res.returncode == 0, res.stderr
    skipped = [k for k in model.state_dict() if not k.startswith("fc")]
    warning = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "NOT counted" in warning[0] and "only the linear layers fc1, fc2" in warning[0]
    for key in skipped:
        assert f"skipped {key} " in res.stderr, key
    assert "conv1.weight (4, 1, 3, 3): weight of 'conv1', a convolution (4-D weight)" in res.stderr
    assert "fc1 128->6, fc2 6->3" in res.stdout and "warning" not in res.stdout
    net = read_network(path)
    assert net.partial and [t.key for t in net.skipped] == skipped
    assert {t.key for t in net.skipped if t.structural} == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"}


def test_skipped_tensors_of_an_mlp_with_a_norm_and_a_left_out_layer(tmp_path, capfd):
    model = nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5), nn.Linear(5, 3), nn.Linear(3, 2))
    path = _save_state_dict(model, tmp_path / "norm.pt")
    net = read_network(path)
    assert [t.key for t in net.skipped] == ["1.weight", "1.bias"] and not net.partial
    status, out, err = _main(capfd, path, "--n-null", "2", "--no-progress", "--null", "degree-preserving")
    assert status == 0 and "warning:" in err and "NOT counted" not in err and "no connections" in err
    net = read_network(path, ["0", "2"])
    assert net.partial and {t.key for t in net.skipped if t.structural} == {"3.weight", "3.bias"}
    assert "'3' is not in the chain given by --layers" in net.skipped[-1].reason
    plain = _save_state_dict(_sparse_mlp([3, 4, 2], seed=0), tmp_path / "plain.pt")
    status, _, err = _main(capfd, plain, "--n-null", "2", "--no-progress")
    assert status == 0 and "warning" not in err and read_network(plain).skipped == ()


def test_table_prints_every_number_in_fixed_point():
    from mothlib.cli.motifs import _format_table

    df = pd.DataFrame({
        "motif": ["bifan", "edges"], "count": [863561, 12], "null_mean": [912345.678, 12.0],
        "null_std": [123456.7, 0.0], "z": [-0.4, np.nan], "p_value": [0.5, 1.0], "sp": [0.25, np.nan],
        "z_note": ["", "undefined"],
    })
    text = _format_table(df)
    assert "e+" not in text and "912345.7" in text and "123456.7" in text and "863561" in text
    assert "12.0" in text and "-0.40" in text
