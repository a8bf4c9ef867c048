"""The AMI protocol without I/O: framing and parsing of Asterisk Manager Interface text,
and the results of AsyncAGI commands. The gateway (hotline.pbx.gateway) does the I/O."""
