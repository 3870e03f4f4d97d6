// The fuzz targets link api/routes.cc (route matching) without the request handler, which
// needs the HSM and the database. The route table names the handler's methods; these stand in
// for them so that the table links. Matching never calls a handler: reaching one aborts.
#include <cstdlib>

#include "api/request_handler.h"

namespace escrow::api {

ApiResponse RequestHandler::PutDevice(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::GetDevice(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListDevices(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::CheckIn(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::StoreKey(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::RetrieveKey(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::VerifyKey(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::RotateKey(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::RotationCommand(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListVersions(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListAccesses(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListAudit(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::VerifyAudit(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::GetMetrics(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::StoreCmsKey(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::CurrentEscrowCertificate(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::DeviceEscrowCertificate(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListEscrowCertificates(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::RequestAccess(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListAccessRequests(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ApproveAccessRequest(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::DenyAccessRequest(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListEvents(const RouteCall& /*call*/) { std::abort(); }
ApiResponse RequestHandler::ListCheckpoints(const RouteCall& /*call*/) { std::abort(); }

}  // namespace escrow::api
