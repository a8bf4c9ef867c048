"""Callbacks that keep the caller's place (回拨): the loop that places them."""
