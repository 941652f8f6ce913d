"""The AWX execution environment's helpers (docs/awx.md): the EE image build (shs_ee.build), a job run as AWX runs
one (shs_ee.awx_job), a TLS front of the local Docker engine (shs_ee.docker_tls) and make up-ee (shs_ee.up_ee).
The data files they use stay beside this package: ee/pkgmgr (copied into the image) and ee/launcher/docker."""
