"""The shell-executing agent: a small loop behind Model, Environment and Approver protocols."""
