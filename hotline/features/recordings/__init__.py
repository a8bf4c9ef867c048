"""Seat conversation recordings (录音): the desk that lists, plays and purges them, its
`hotline recordings` commands and its /api/v1 routes."""
