# Generates the HTML book: Doxygen over chapters/ and code/attention/, with
# the Doxyfile that CMake configured (DOXYFILE, naming the folder of the
# programs' output and figures), then MathJax copied in so
# that the book reads offline and anywhere it is copied to. Writes
# BOOK_OUT/html.stamp only when Doxygen succeeded without a warning.
file(REMOVE ${BOOK_OUT}/html.stamp)
execute_process(COMMAND ${DOXYGEN} ${DOXYFILE}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "Doxygen failed: every warning is an error here.\n${err}")
endif()

# Only what an SVG-rendering MathJax 2.7 needs (about 2.5 MB of 54 MB).
set(mj ${BOOK_OUT}/html/mathjax)
file(MAKE_DIRECTORY ${mj}/jax/input ${mj}/jax/output/SVG/fonts)
file(COPY ${MATHJAX_DIR}/MathJax.js ${MATHJAX_DIR}/extensions
     DESTINATION ${mj})
file(COPY ${MATHJAX_DIR}/jax/input/TeX DESTINATION ${mj}/jax/input)
file(COPY ${MATHJAX_DIR}/jax/element DESTINATION ${mj}/jax)
file(COPY ${MATHJAX_DIR}/jax/output/SVG/jax.js
          ${MATHJAX_DIR}/jax/output/SVG/config.js
          ${MATHJAX_DIR}/jax/output/SVG/autoload
     DESTINATION ${mj}/jax/output/SVG)
file(COPY ${MATHJAX_DIR}/jax/output/SVG/fonts/TeX
     DESTINATION ${mj}/jax/output/SVG/fonts)
file(TOUCH ${BOOK_OUT}/html.stamp)
