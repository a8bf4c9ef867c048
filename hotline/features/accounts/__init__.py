"""Staff accounts: users and roles (`hotline users ...`), the CLI staff commands acting as
the person bound to the OS account, web logins and sessions, and the REST API's skeleton
(/api/v1/) that the workbench's pages are built on."""
