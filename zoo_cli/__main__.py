from zoo_cli import run

run()
