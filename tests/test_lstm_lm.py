"""The lstm_lm zoo model and `python -m coarsenet train --model lstm_lm`: perplexity per epoch
on the bundled public-domain text falls; a user text file works; bad files are errors."""
import subprocess
import sys
from pathlib import Path

import coarsenet as cn
from coarsenet import cli

ROOT = Path(__file__).parent.parent


def test_zoo_symbol_has_one_fused_rnn_node():
    sym = cn.model_zoo.get_symbol("lstm_lm", num_classes=11, seq_len=5)
    assert "lstm_parameters" in sym.list_arguments()
    _, outs, _ = sym.infer_shape(data=(3, 5), softmax_label=(3, 5))
    assert outs == [(15, 11)]
    assert sym.tojson().count('"op": "RNN"') == 1


def test_cli_trains_on_the_bundled_text_and_perplexity_falls(tmp_path, capsys):
    assert cli.main(["train", "--model", "lstm_lm", "--epochs", "8", "--out",
                     str(tmp_path / "lm")]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "perplexity" in ln]
    ppl = [float(ln.split("train-perplexity")[1].split()[0]) for ln in lines
           if "train-perplexity" in ln]
    assert len(ppl) == 8 and ppl[-1] < 0.7 * ppl[0]
    assert (tmp_path / "lm-symbol.json").exists() and (tmp_path / "lm-0008.params").exists()
    assert (ROOT / "coarsenet" / "datasets" / "GETTYSBURG_LICENSE.txt").exists()


def test_cli_user_text_and_errors(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcab " * 60, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "coarsenet", "train", "--model", "lstm_lm",
                          "--data", str(text), "--epochs", "1", "--out", str(tmp_path / "m")],
                         check=False, capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "4 symbols" in out.stdout and "val-perplexity" in out.stdout
    short = tmp_path / "s.txt"
    short.write_text("abc", encoding="utf-8")
    assert cli.main(["train", "--model", "lstm_lm", "--data", str(short), "--out",
                     str(tmp_path / "m2")]) == 2
    assert cli.main(["train", "--model", "lstm_lm", "--data", str(tmp_path / "none.txt"),
                     "--out", str(tmp_path / "m3")]) == 2
