from hotline.app.cli import main

raise SystemExit(main())
