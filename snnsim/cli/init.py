"""placeholder"""
import click


@click.command()
def command():
    """Write a commented starter config."""
