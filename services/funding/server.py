"""The funding service's gRPC adapter: translate, call the rules core, publish."""

from __future__ import annotations

import logging
from functools import lru_cache

from ijh.funding.v1 import funding_pb2, funding_pb2_grpc

from services.funding import translate
from services.funding.rules import grant, scoring
from services.funding.rules.parameters import ParameterSet
from services.funding.rules.rulebook import ijh_parameters
from services.shared.config import REPO_ROOT, Settings, load_settings
from services.shared.errors import FieldViolation, InvalidArgument
from services.shared.event_data import cloud_event
from services.shared.events import EventPublisher
from services.shared.grpc_errors import translate_errors
from services.shared.logs import configure_logging
from services.shared.server import Registration, ServiceRuntime

log = logging.getLogger(__name__)

SOURCE = "ijh/funding"
FUND_PARAMETERS = REPO_ROOT / "services" / "funding" / "fund" / "parameters"


def _reference_date(text: str, field: str = "reference_date"):
    on = translate.parse_date(text)
    if isinstance(on, str):
        raise InvalidArgument(FieldViolation(field, "must be a calendar date YYYY-MM-DD"))
    return on


class FundingServicer(funding_pb2_grpc.FundingServiceServicer):
    """Serves ``ijh.funding.v1.FundingService``."""

    def __init__(self, events: EventPublisher):
        self.events = events

    @translate_errors
    async def ComputeGrant(self, request, context):
        result = grant.compute_grant(translate.grant_application(request))
        subject = f"applicants/{request.applicant.business_id}"
        self.events.publish_soon(cloud_event(
            "ijh.funding.grant.computed", SOURCE, subject,
            translate.grant_computed_event(request, result)))
        return translate.grant_response(result, request.include_explanation)

    @translate_errors
    async def ScoreApplication(self, request, context):
        result = scoring.score_application(translate.score_sheets(request),
                                           _reference_date(request.reference_date))
        return translate.scoring_response(result, request.include_explanation)

    @translate_errors
    async def ListParameters(self, request, context):
        on = _reference_date(request.reference_date)
        rule_sets = {"": ijh_parameters, "ijh": ijh_parameters, "fund": fund_parameters}
        if request.rule_set not in rule_sets:
            raise InvalidArgument(FieldViolation("rule_set", "must be \"ijh\" or \"fund\""))
        return translate.parameters_response(on, rule_sets[request.rule_set]().at(on))


@lru_cache(maxsize=1)
def fund_parameters() -> ParameterSet:
    """The risk fund's own rules (versioned like the IJH parameters)."""
    return ParameterSet.load(FUND_PARAMETERS, set_name="fund-rules")


def build_funding(settings: Settings) -> ServiceRuntime:
    """The funding runtime (call inside the running event loop)."""
    events = EventPublisher(settings.nats_url, settings.event_stream)
    servicer = FundingServicer(events)
    return ServiceRuntime(
        "funding", settings.funding_address, settings,
        [Registration(funding_pb2.DESCRIPTOR.services_by_name["FundingService"].full_name,
                      funding_pb2_grpc.add_FundingServiceServicer_to_server, servicer)],
        on_start=[events.start], on_stop=[events.close])


async def main() -> None:
    settings = load_settings()
    configure_logging("funding", settings.log_level)
    runtime = build_funding(settings)
    await runtime.run_until_signalled()

