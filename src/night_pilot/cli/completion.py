"""`cnp completion bash|zsh|fish`: the shell's completion script for `cnp`."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from .app import cli

SHELLS = ("bash", "zsh", "fish")


@cli.command("completion")
@click.argument("shell", type=click.Choice(SHELLS), help="The shell to complete in.")
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    bash: add eval "$(cnp completion bash)" to ~/.bashrc

    zsh: add eval "$(cnp completion zsh)" to ~/.zshrc

    fish: cnp completion fish > ~/.config/fish/completions/cnp.fish

    The script asks `cnp` itself for the words that fit, through the `_CNP_COMPLETE`
    environment variable (click's shell completion).
    """
    complete = get_completion_class(shell)
    assert complete is not None  # one of click's own shells
    click.echo(complete(cli, {}, "cnp", "_CNP_COMPLETE").source(), nl=False)
