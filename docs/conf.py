"""Sphinx configuration of the snnsim documentation (built in CI with ``sphinx-build -W``)."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MPLBACKEND", "Agg")

from snnsim import __version__  # noqa: E402

project = "snnsim"
author = "the snnsim authors"
copyright = "the snnsim authors"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "generated"]   # generated/ is included by cli.md
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]   # the included benchmarks README starts its tables at H2

html_theme = "pydata_sphinx_theme"
html_title = f"snnsim {release}"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}

autodoc_member_order = "bysource"
autodoc_typehints = "none"           # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()


def write_cli_reference(app):
    """docs/generated/cli.md: the --help text of every subcommand, from click itself."""
    import click

    from snnsim.cli.main import SUBCOMMANDS, cli

    out = HERE / "generated"
    out.mkdir(exist_ok=True)
    parts = []
    ctx = click.Context(cli, info_name="snnsim")
    parts.append("## snnsim\n\n```text\n" + cli.get_help(ctx) + "\n```\n")
    for name in SUBCOMMANDS:
        cmd = cli.get_command(ctx, name)
        sub = click.Context(cmd, info_name=f"snnsim {name}", parent=ctx)
        parts.append(f"## snnsim {name}\n\n```text\n{cmd.get_help(sub)}\n```\n")
    text = "\n".join(parts)
    path = out / "cli.md"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app):
    app.connect("builder-inited", write_cli_reference)
