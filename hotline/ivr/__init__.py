"""Voice menus: dialplan schema and loader, menu engine, prompts, calendar, voicemail."""
