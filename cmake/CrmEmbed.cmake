# crm_embed_source(OUT file KIND catalog|templates|migrations|mail DIR dir FILES f...)
# Writes the C++ source `file` embedding FILES (relative to DIR) through cmake/EmbedFiles.cmake,
# regenerated whenever one of them changes. crm_embed_files compiles it into a library; the
# planner's training program (planner/pgo) compiles it into itself.
function(crm_embed_source)
  cmake_parse_arguments(ARG "" "OUT;KIND;DIR" "FILES" ${ARGN})
  set(deps)
  foreach(f ${ARG_FILES})
    list(APPEND deps ${ARG_DIR}/${f})
  endforeach()
  # A CMake list would be split by the shell: pass it comma-separated.
  string(REPLACE ";" "," files_arg "${ARG_FILES}")
  add_custom_command(
    OUTPUT ${ARG_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${ARG_OUT} -DDIR=${ARG_DIR} -DFILES=${files_arg}
            -DKIND=${ARG_KIND} -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    DEPENDS ${deps} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    COMMENT "Embedding ${ARG_KIND}"
    VERBATIM)
endfunction()

# crm_embed_files(TARGET name KIND catalog|templates|migrations|mail FILES f...)
# Compiles FILES (relative to the current source dir) into a static library `name`, its source
# written by crm_embed_source.
function(crm_embed_files)
  cmake_parse_arguments(ARG "" "TARGET;KIND" "FILES" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}.cpp)
  crm_embed_source(OUT ${out} KIND ${ARG_KIND} DIR ${CMAKE_CURRENT_SOURCE_DIR} FILES ${ARG_FILES})
  add_library(${ARG_TARGET} STATIC ${out})
  # The generated file includes the header of the library that reads the files.
  if(ARG_KIND STREQUAL "migrations")
    target_link_libraries(${ARG_TARGET} PRIVATE crm_db)
  elseif(ARG_KIND STREQUAL "mail")
    target_link_libraries(${ARG_TARGET} PRIVATE crm_mail)
  elseif(ARG_KIND STREQUAL "templates")
    target_link_libraries(${ARG_TARGET} PRIVATE crm_render)
  else()
    target_link_libraries(${ARG_TARGET} PRIVATE crm_planner)
  endif()
endfunction()
