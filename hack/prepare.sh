# Sourced by hack/demo.sh, hack/playground.sh and hack/test.sh, from the repository root:
# installs what is missing (hack/setup.sh), then tells everything a run starts (a clone of
# this checkout in the e2e test included) where the real bosh and bbr come from; the
# sibling sources folder is found from this checkout only.
bash hack/setup.sh
BOSH_TOOLS_SOURCES="$(bash tests/harness/build-bosh-tools.sh --sources)"
export BOSH_TOOLS_SOURCES
