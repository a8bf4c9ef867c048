"""Small pieces shared by every part of hotline: errors with stable ids, YAML with lines."""
