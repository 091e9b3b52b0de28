from mtl_tui.cli import main

main()
