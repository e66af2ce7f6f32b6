# Runs the planner's training program (planner/pgo), which writes a profile per planner source
# into crm_planner's object directory, and checks that every source got one (docs/benchmarks.md,
# "Profile-guided planner").
# -DTRAIN=<program> -DUSE_DIR=<crm_planner's object directory>
# -DNAMES=<source names, comma-separated>
string(REPLACE "," ";" names "${NAMES}")
# A profile adds its counts to a file left by an earlier run: start from none.
foreach(name ${names})
  file(REMOVE "${USE_DIR}/${name}.gcda")
endforeach()
file(MAKE_DIRECTORY "${USE_DIR}")
execute_process(COMMAND "${TRAIN}" RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "PGO training (${TRAIN}) failed: ${status}")
endif()
foreach(name ${names})
  if(NOT EXISTS "${USE_DIR}/${name}.gcda")
    message(FATAL_ERROR "PGO training wrote no profile for ${name} into ${USE_DIR}")
  endif()
endforeach()
