// Every HTTP vocabulary header at once, for the sources not yet moved to the header they need
// (runtime/slice/src/recipients.cpp, owned elsewhere). New code includes endpoint.hpp,
// message.hpp, response.hpp, json_body.hpp, query.hpp or protocol_error.hpp directly.
#pragma once

#include "crm/http/endpoint.hpp"
#include "crm/http/json_body.hpp"
#include "crm/http/message.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/http/query.hpp"
#include "crm/http/response.hpp"
