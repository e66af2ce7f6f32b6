# Runs the planner's training program (planner/pgo), which writes a profile per planner source
# into crm_planner's object directory, and checks that every source got one (docs/benchmarks.md,
# "Profile-guided planner").
# -DTRAIN=<program> -DUSE_DIR=<crm_planner's object directory>
# -DNAMES=<source names, comma-separated>
string(REPLACE "," ";" names "${NAMES}")
# A profile adds its counts to a file left by an earlier run: each training starts from none.
function(remove_profiles)
  foreach(name ${names})
    file(REMOVE "${USE_DIR}/${name}.gcda")
  endforeach()
endfunction()
remove_profiles()
file(MAKE_DIRECTORY "${USE_DIR}")
# Without address-space randomisation the counts come out the same from one training to the next
# (with it, five of the eight profiles differed), so the planner's objects, and ccache's hits on
# them, stay the same when the training runs again. setarch (util-linux) may be refused the
# personality call in a restricted container: the training then runs as it is.
find_program(SETARCH setarch)
set(status 1)
if(SETARCH)
  execute_process(COMMAND "${SETARCH}" -R "${TRAIN}" RESULT_VARIABLE status)
endif()
if(NOT status EQUAL 0)
  remove_profiles()
  execute_process(COMMAND "${TRAIN}" RESULT_VARIABLE status)
endif()
if(NOT status EQUAL 0)
  message(FATAL_ERROR "PGO training (${TRAIN}) failed: ${status}")
endif()
foreach(name ${names})
  if(NOT EXISTS "${USE_DIR}/${name}.gcda")
    message(FATAL_ERROR "PGO training wrote no profile for ${name} into ${USE_DIR}")
  endif()
endforeach()
