"""The Pulumi program's logic that needs no cloud: settings, rules, policies, names and the values
the components share. Pure functions and plain data, tested directly; the components only wire."""
