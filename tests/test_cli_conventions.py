"""Conventions of the ``gkmeans`` command line (issue 22, item 9), checked on the real entry
point: the help, the examples, ``-k``, the defaults, missing optional packages, model files."""

from __future__ import annotations

import argparse
import os
import shlex

import numpy as np
import pytest
from cli_runner import ROOT, run_cli

from gkmeans.cli import build_parser
from gkmeans.datasets import make_blobs
from gkmeans.estimator import KMeans
from gkmeans.image import compress, sample_image
from gkmeans.plot_history import animate_fit
from gkmeans.selection import elbow

#: The commands in the order their examples can run one after the other in one folder.
COMMANDS = [
    "demo",
    "devices",
    "fit",
    "predict",
    "elbow",
    "animate",
    "sample-image",
    "compress-image",
]


_cli = run_cli


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_the_commands_in_this_file_are_all_the_commands():
    assert sorted(COMMANDS) == sorted(_subparsers())


def test_no_arguments_print_the_help_with_every_command(tmp_path):
    done = _cli(tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: gkmeans")
    for name, sub in _subparsers().items():
        assert f"    {name}" in done.stdout
    assert "gkmeans COMMAND --help" in done.stdout


def test_every_option_has_help_naming_its_default():
    for name, sub in _subparsers().items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._HelpAction):
                continue
            text = formatter._get_help_string(action)
            assert action.help, (name, action.option_strings)
            assert action.required or "default" in text, (name, action.option_strings, text)


def test_every_command_takes_quiet():
    for name, sub in _subparsers().items():
        assert "--quiet" in sub._option_string_actions, name


def _example(cwd, name):
    done = _cli(cwd, name, "--help")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[-2] == "example:", (name, lines[-2:])
    assert lines[-1].startswith(f"  gkmeans {name}"), lines[-1]
    return shlex.split(lines[-1])[1:]


def test_every_command_help_ends_with_an_example_that_runs(tmp_path):
    """Each example, run as written (in the order of COMMANDS) in a folder holding data.csv."""
    pytest.importorskip("PIL")
    pytest.importorskip("matplotlib")
    X, _, _ = make_blobs(800, 3, 5, random_state=0)
    np.savetxt(tmp_path / "data.csv", X, delimiter=",", header="a,b,c", comments="")
    for name in COMMANDS:
        args = _example(tmp_path, name)
        done = _cli(tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout, args


def test_k_is_one_number_everywhere_and_sweeps_use_k_range(tmp_path):
    parsed = {
        "demo": ["demo", "-k", "3"],
        "fit": ["fit", "X.npy", "-k", "3"],
        "animate": ["animate", "X.npy", "-k", "3"],
        "compress-image": ["compress-image", "a.png", "b.png", "-k", "3"],
    }
    parser = build_parser()
    for argv in parsed.values():
        args = parser.parse_args(argv)
        assert (args.colors if argv[0] == "compress-image" else args.k) == 3
    assert parser.parse_args(["elbow", "X.npy", "--k-range", "2:12"]).k_range == range(2, 13)
    X, _, _ = make_blobs(300, 2, 3, random_state=0)
    np.save(tmp_path / "X.npy", X)
    done = _cli(tmp_path, "elbow", "X.npy", "-k", "2:6")
    assert done.returncode == 2 and "--k-range 2:6" in done.stderr
    assert done.stderr.count("\n") == 1
    done = _cli(tmp_path, "elbow", "X.npy", "--k-range", "2:6")
    assert done.returncode == 0, done.stderr
    ks = [int(line.split()[0]) for line in done.stdout.splitlines() if line[:4].strip().isdigit()]
    assert ks == [2, 3, 4, 5, 6]  # both ends included


def _default(function, name):
    import inspect

    return inspect.signature(function).parameters[name].default


@pytest.mark.parametrize(
    "argv, dest, expected",
    [
        (["fit", "X.npy", "-k", "2"], "init", _default(KMeans, "init")),
        (["fit", "X.npy", "-k", "2"], "n_init", _default(KMeans, "n_init")),
        (["fit", "X.npy", "-k", "2"], "max_iter", _default(KMeans, "max_iter")),
        (["fit", "X.npy", "-k", "2"], "tol", _default(KMeans, "tol")),
        (["fit", "X.npy", "-k", "2"], "empty_cluster", _default(KMeans, "empty_cluster")),
        (["demo"], "k", _default(KMeans, "n_clusters")),
        (["demo"], "n_init", _default(KMeans, "n_init")),
        (["elbow", "X.npy"], "k_range", _default(elbow, "k_range")),
        (["elbow", "X.npy"], "n_init", _default(elbow, "n_init")),
        (["compress-image", "a.png", "b.png"], "colors", _default(compress, "n_colors")),
        (
            ["compress-image", "a.png", "b.png"],
            "max_fit_pixels",
            _default(compress, "max_fit_pixels"),
        ),
        (["sample-image", "a.png"], "size", _default(sample_image, "size")),
        (["animate", "X.npy", "-k", "2"], "out", _default(animate_fit, "path")),
        (["animate", "X.npy", "-k", "2"], "fps", _default(animate_fit, "fps")),
        (["animate", "X.npy", "-k", "2"], "max_points", _default(animate_fit, "max_points")),
        (["animate", "X.npy", "-k", "2"], "max_iter", _default(KMeans, "max_iter")),
        (["sample-image", "a.png"], "seed", _default(sample_image, "random_state")),
    ],
)
def test_defaults_are_the_python_apis(argv, dest, expected):
    assert getattr(build_parser().parse_args(argv), dest) == expected


def _blocking(tmp_path, module):
    shim = tmp_path / "shim" / module
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(f"raise ImportError('{module} blocked for the test')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(ROOT)])}


def test_plot_without_matplotlib_fails_before_the_work(tmp_path):
    """The data file is not even read: its error would come first otherwise."""
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    done = _cli(
        tmp_path, "elbow", "bad.csv", "--plot", "e.png", env=_blocking(tmp_path, "matplotlib")
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "elbow --plot needs matplotlib: pip install 'gkmeans[plot]'" in done.stderr
    assert done.stdout == "" and not (tmp_path / "e.png").exists()


@pytest.mark.parametrize(
    "command", [["compress-image", "in.png", "out.png"], ["sample-image", "out.png"]]
)
def test_images_without_pillow_fail_before_the_work(tmp_path, command):
    (tmp_path / "in.png").write_bytes(b"not read")
    done = _cli(tmp_path, *command, env=_blocking(tmp_path, "PIL"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "needs Pillow: pip install 'gkmeans[image]'" in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_loading_a_file_that_is_not_a_model_never_mentions_pickles(tmp_path):
    X = np.ones((10, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", a=np.array([{"a": 1}], dtype=object))
    np.savez(tmp_path / "plain.npz", a=X)
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "format.npz", format=np.array([{"a": 1}], dtype=object), data=X)
    runs = [
        ["predict", name, "X.npy"]
        for name in ("objects.npy", "objects.npz", "plain.npz", "text.npz")
    ] + [
        ["fit", "objects.npy", "-k", "2"],
        ["fit", "format.npz", "-k", "2"],
        ["predict", "plain.npz", "objects.npy"],
    ]
    for argv in runs:
        done = _cli(tmp_path, *argv)
        assert done.returncode == 2 and done.stderr.startswith("gkmeans: error:"), argv
        assert "pickle" not in done.stderr.lower(), (argv, done.stderr)
