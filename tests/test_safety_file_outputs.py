"""plot, export, export-nir, export-nwb and init replace their output by a rename: with
--overwrite they must refuse a device node, a FIFO and a hard link to the input (the rename
would remove the device node or replace the input), one line, exit 2, nothing changed."""
import os
import stat

import pytest

COMMANDS = {
    "plot": lambda run, out: ["plot", run, "-o", out, "--overwrite"],
    "export": lambda run, out: ["export", run, "-o", out, "--overwrite"],
    "export-nir": lambda run, out: ["export-nir", run, "-o", out, "--overwrite"],
    "export-nwb": lambda run, out: ["export-nwb", run, "-o", out, "--overwrite"],
    "init": lambda run, out: ["init", out, "--overwrite"],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, write_config, invoke):
    d = tmp_path_factory.mktemp("fileout")
    cfg = write_config("checkpoint_train", d)
    out = d / "t.h5"
    assert invoke("train", cfg, "-o", out, "-q").exit_code == 0
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_fifo_output_refused(name, trained, tmp_path, invoke):
    fifo = tmp_path / "f.out"
    os.mkfifo(fifo)
    res = invoke(*COMMANDS[name](trained, fifo))
    assert res.exit_code == 2 and res.output.strip().endswith("is a FIFO; only regular files are replaced"), res.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_device_output_refused(name, trained, tmp_path, invoke):
    dev = tmp_path / "n.out"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o644, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    res = invoke(*COMMANDS[name](trained, dev))
    assert res.exit_code == 2 and res.output.strip().endswith("is a device; only regular files are replaced"), res.output
    assert stat.S_ISCHR(os.stat(dev).st_mode)


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"init"}))
def test_hard_link_to_the_input_refused(name, trained, tmp_path, invoke):
    link = tmp_path / "link.h5"
    os.link(trained, link)
    before = trained.read_bytes()
    res = invoke(*COMMANDS[name](trained, link))
    assert res.exit_code == 2 and "is the same file as the input" in res.output, res.output
    assert trained.read_bytes() == before
