"""Rating campaigns: ``spec`` (what a campaign asks for), ``sampling`` (which pairs), ``admin`` (create,
raters, look-ups), ``assignment`` (the lease protocol the rater pages call), ``status`` (progress), ``consensus``
(labels in force from several raters) and ``selection`` (a campaign from hand-picked pairs) and ``lifecycle`` (instructions, pause, resume, close, archive,
delete).

``from core import campaigns`` gives the API the app and the CLI use, in one namespace.
"""

from core.campaigns.admin import (CampaignInfo, add_raters, comparison_sides, create_campaign, get_campaign,
                                  list_campaigns, rater_campaigns)
from core.campaigns.assignment import TaskView, next_task, skip, submit_comparison, submit_grade, undo_last
from core.campaigns.lifecycle import (ACTIONS, STATUSES, RaterCampaign, archive_campaign, close_campaign,
                                      delete_campaign, instructions_markdown, pause_campaign, rater_campaign_list,
                                      resume_campaign, set_instructions, set_status)
from core.campaigns.spec import CANDIDATES, KINDS, MEASURES, STRATEGIES, CampaignSpec
from core.campaigns.status import Progress, RaterProgress, progress
from core.errors import (AssignmentError, CampaignError, CampaignInUseError, CampaignNotActiveError, LevelOutOfRangeError,
                         NoPredictionsError, NothingToUndoError, NotPermittedError, RaterNotInCampaignError,
                         SamplingError, UnknownCampaignError)

__all__ = ["ACTIONS", "CANDIDATES", "KINDS", "MEASURES", "STATUSES", "STRATEGIES", "AssignmentError", "CampaignError",
           "CampaignInUseError", "CampaignInfo", "CampaignNotActiveError", "CampaignSpec", "LevelOutOfRangeError",
           "NoPredictionsError", "NotPermittedError", "NothingToUndoError", "Progress", "RaterCampaign",
           "RaterNotInCampaignError", "RaterProgress", "SamplingError", "TaskView", "UnknownCampaignError",
           "add_raters", "archive_campaign", "close_campaign", "comparison_sides", "create_campaign",
           "delete_campaign", "get_campaign", "instructions_markdown", "list_campaigns", "next_task",
           "pause_campaign", "progress", "rater_campaign_list", "rater_campaigns", "resume_campaign",
           "set_instructions", "set_status", "skip", "submit_comparison", "submit_grade", "undo_last"]
