# Warnings for our own code only: an INTERFACE target linked PRIVATE (as CLI11's CLI11Warnings).
add_library(crm_warnings INTERFACE)
target_compile_options(crm_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wimplicit-fallthrough
  $<$<BOOL:${CRM_WERROR}>:-Werror>)
